// What the script needs to set a run up: a field of the JSON that
// `gatehouse clients create --json` prints, and free loopback ports.

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// field prints the string field NAME of the JSON object on stdin, so the
// script can read what `gatehouse clients create --json` printed.
func field(args []string) error {
	if len(args) != 1 {
		return errors.New("field NAME")
	}
	var obj map[string]any
	if err := json.NewDecoder(io.LimitReader(os.Stdin, 1<<20)).Decode(&obj); err != nil {
		return fmt.Errorf("field: stdin is not a JSON object: %w", err)
	}
	s, ok := obj[args[0]].(string)
	if !ok || s == "" {
		return fmt.Errorf("field: no string %q in the object", args[0])
	}
	fmt.Println(s)
	return nil
}

// freeport prints N distinct free ports on 127.0.0.1. The listeners stay
// open until all are chosen so the ports differ; another process could take
// one before the server binds it, which the server then reports loudly.
func freeport(args []string) error {
	n := 1
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 16 {
			return errors.New("freeport [N], 1 <= N <= 16")
		}
		n = v
	}
	var ports []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}
