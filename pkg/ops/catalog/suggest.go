package catalog

// Closest returns the name in names nearest to name by edit distance
// (Levenshtein), when it is near enough to be what was meant: at most one
// edit per four characters, and at least one. ok is false when no name is.
func Closest(name string, names []string) (best string, ok bool) {
	limit := max(1, len(name)/4)
	bestDist := limit + 1
	for _, n := range names {
		if d := distance(name, n, bestDist); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best, bestDist <= limit
}

// Suggest returns the operation nearest to name (see Closest).
func Suggest(name string) (string, bool) {
	var names []string
	for _, op := range All(Config{}) {
		names = append(names, op.Name())
	}
	return Closest(name, names)
}

// distance is the Levenshtein distance between a and b, in bytes; any
// value of at least limit is reported as limit (the search stops there).
func distance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
