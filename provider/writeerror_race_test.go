package provider

import (
	"net/http/httptest"
	"sync"
	"testing"
)

// Answering with a shared error value from many requests at once must
// not write to it (the race detector fails this test if it does).
func TestWriteErrorLeavesSharedErrorsAlone(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			writeError(httptest.NewRecorder(), ErrIntrospectionCaller)
		}()
		go func() {
			defer wg.Done()
			_ = ErrIntrospectionCaller.WithWrap(nil)
		}()
	}
	wg.Wait()
}
