package logingest

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestPassesTagsMatchesValidator checks passesTags, the validator's fast path, against the validator itself:
// for events breaking each tagged rule alone and in pairs, passesTags is true exactly when the validator
// reports nothing. If a validate tag is added to Event, the tag list below fails first.
func TestPassesTagsMatchesValidator(t *testing.T) {
	t.Parallel()
	var tagged []string
	for f := range reflect.TypeFor[Event]().Fields() {
		if tag := f.Tag.Get("validate"); tag != "" {
			tagged = append(tagged, f.Name+":"+tag)
		}
	}
	want := []string{
		"EventID:required", "Timestamp:required", "EventType:required,event_type", "EventName:required",
		"Priority:omitempty,priority",
	}
	if !slices.Equal(tagged, want) {
		t.Fatalf("Event's validate tags are %v; passesTags knows %v: update it and this list", tagged, want)
	}

	valid := Event{
		EventID: "e1", Timestamp: time.Date(2025, 8, 27, 11, 0, 0, 0, time.UTC), EventType: EventTypeError,
		EventName: "x",
	}
	breaks := []func(*Event){
		func(e *Event) { e.EventID = "" },
		func(e *Event) { e.Timestamp = time.Time{} },
		func(e *Event) { e.EventType = "" },
		func(e *Event) { e.EventType = "Error" },
		func(e *Event) { e.EventName = "" },
		func(e *Event) { e.Priority = "urgent" },
		func(e *Event) { e.Priority = PriorityHigh },        // valid
		func(e *Event) { e.EventType = EventTypeTelemetry }, // valid
	}
	ev := newEventValidator(Limits{}.withDefaults())
	check := func(e Event) {
		t.Helper()
		if got, want := passesTags(&e), ev.v.Struct(&e) == nil; got != want {
			t.Errorf("passesTags(%+v) = %v, the validator says %v", e, got, want)
		}
	}
	check(valid)
	for i, a := range breaks {
		for _, b := range breaks[i:] {
			e := valid
			a(&e)
			b(&e)
			check(e)
		}
	}
}
