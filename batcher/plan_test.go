package batcher

import (
	"slices"
	"testing"
)

func TestPromptRoom(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		batch, longPrefill, budget int
		streaming                  bool
		want                       int
	}{
		{"idle: the whole batch", 512, 256, 512, false, 512},
		{"streaming: one short prompt's worth", 512, 256, 3, true, 256},
		{"streaming: a budget above it", 512, 256, 300, true, 300},
		{"streaming, chunk everything", 512, 0, 5, true, 5},
		{"never past the batch", 128, 256, 3, true, 128},
	} {
		if got := promptRoom(tc.batch, tc.longPrefill, tc.budget, tc.streaming); got != tc.want {
			t.Errorf("%s: promptRoom = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestPlanPrefill(t *testing.T) {
	for _, tc := range []struct {
		name                          string
		left                          []int
		room, longBudget, longPrefill int
		want                          []int
	}{
		{"short prompts go whole", []int{100, 50}, 512, 4, 256, []int{100, 50}},
		// Three new conversations while others stream (room 256): the
		// first goes whole, the second starts, the third waits.
		{"a burst is spread over steps", []int{200, 200, 200}, 256, 4, 256, []int{200, 56, 0}},
		{"long prompts share the chunk budget", []int{1500, 900}, 256, 5, 256, []int{5, 0}},
		{"a short prompt is not held behind a long one", []int{1500, 40}, 256, 5, 256, []int{5, 40}},
		{"idle: a long prompt takes the batch", []int{1500}, 512, 512, 256, []int{512}},
		{"chunk everything", []int{100, 100}, 512, 30, 0, []int{30, 0}},
	} {
		got := planPrefill(tc.left, tc.room, tc.longBudget, tc.longPrefill, nil)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: planPrefill(%v, room %d, budget %d) = %v, want %v", tc.name, tc.left, tc.room, tc.longBudget, got, tc.want)
		}
	}
}
