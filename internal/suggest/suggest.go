// Package suggest finds the likely intended word for a mistyped one: a
// setting, an environment variable, a command. Every "did you mean ...?"
// of gatehouse comes from here, so they all judge closeness alike.
package suggest

// Nearest returns the candidate closest to s by edit distance, if it is
// close enough to be a likely typo (at most a third of the length, and at
// most 3 edits); otherwise "". Of equally close candidates the first wins.
func Nearest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := Distance(s, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > 3 || bestD > max(1, len(s)/3) {
		return ""
	}
	return best
}

// Distance is the Levenshtein distance between a and b (bytes: the words
// compared are ASCII).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
