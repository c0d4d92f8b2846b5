package config

import (
	"strings"
	"testing"
	"time"
)

func TestShutdownIsReadOnceForEveryService(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Shutdown
		invalid string // a variable named by the error, "" when valid
	}{
		{"unset, a drain of five seconds and a grace of ten", nil, Shutdown{Drain: 5 * time.Second, Grace: 10 * time.Second}, ""},
		{"a drain of zero stops at once", map[string]string{"SHUTDOWN_DRAIN": "0s"}, Shutdown{Grace: 10 * time.Second}, ""},
		{"both set", map[string]string{"SHUTDOWN_DRAIN": "15s", "SHUTDOWN_GRACE": "20s"}, Shutdown{Drain: 15 * time.Second, Grace: 20 * time.Second}, ""},
		{"a negative drain is refused", map[string]string{"SHUTDOWN_DRAIN": "-1s"}, Shutdown{Drain: -time.Second, Grace: 10 * time.Second}, "SHUTDOWN_DRAIN"},
		{"a drain of an hour is refused", map[string]string{"SHUTDOWN_DRAIN": "1h"}, Shutdown{Drain: time.Hour, Grace: 10 * time.Second}, "SHUTDOWN_DRAIN"},
		{"a grace of a millisecond is refused: it would cut every call in flight", map[string]string{"SHUTDOWN_GRACE": "1ms"}, Shutdown{Drain: 5 * time.Second, Grace: time.Millisecond}, "SHUTDOWN_GRACE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(MapLookup(tc.env))
			got := LoadShutdown(r)
			if r.Err() != nil {
				t.Fatal(r.Err())
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			err := got.Validate()
			if (err != nil) != (tc.invalid != "") || (err != nil && !strings.Contains(err.Error(), tc.invalid)) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.invalid)
			}
		})
	}
}

func TestAShutdownSettingThatCannotBeUsedIsReportedWhenRead(t *testing.T) {
	for _, tc := range []struct{ name, variable, value string }{
		{"a drain that is not a duration", "SHUTDOWN_DRAIN", "5"},
		{"a grace written out as zero, which would cut every call in flight", "SHUTDOWN_GRACE", "0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(MapLookup(map[string]string{tc.variable: tc.value}))
			LoadShutdown(r)
			if err := r.Err(); err == nil || !strings.Contains(err.Error(), tc.variable) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestAShutdownBuiltInCodeWithoutAGraceHasTheDefaultOne(t *testing.T) {
	if err := (Shutdown{}).Validate(); err != nil {
		t.Fatal(err)
	}
	if got := (Shutdown{}).GraceOrDefault(); got != DefaultShutdownGrace {
		t.Fatalf("GraceOrDefault() = %v", got)
	}
}
