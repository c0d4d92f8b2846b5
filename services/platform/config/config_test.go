package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestReaderReadsTypedValuesWithDefaults(t *testing.T) {
	r := NewReader(MapLookup(map[string]string{
		"S": " value ", "I": "42", "B": "yes", "D": "90s", "L": "a, b,,c", "EMPTY": "",
	}))
	if r.String("S", "x") != "value" || r.String("EMPTY", "def") != "def" || r.String("MISSING", "def") != "def" {
		t.Fatal("String")
	}
	if r.Int("I", 0) != 42 || !r.Bool("B", false) || r.Duration("D", 0) != 90*time.Second {
		t.Fatal("typed values")
	}
	if got := strings.Join(r.List("L", nil), "|"); got != "a|b|c" {
		t.Fatalf("List = %s", got)
	}
	if r.FirstString("def", "MISSING", "S") != "value" {
		t.Fatal("FirstString")
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
}

func TestReaderReportsEveryMalformedValue(t *testing.T) {
	r := NewReader(MapLookup(map[string]string{"I": "x", "B": "maybe", "D": "10"}))
	r.Int("I", 1)
	r.Bool("B", false)
	r.Duration("D", 0)
	err := r.Err()
	if err == nil {
		t.Fatal("malformed values accepted")
	}
	for _, name := range []string{"I:", "B:", "D:"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestSecretsAndPasswordsNeverReachALog(t *testing.T) {
	type cfg struct {
		Key Secret `json:"key"`
		DB  DSN    `json:"db"`
		Q   DSN    `json:"q"`
	}
	c := cfg{Key: "s3cr3t", DB: "postgres://app:hunter2@db:5432/sso", Q: "host=db password=hunter3"}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, leak := range []string{"s3cr3t", "hunter2", "hunter3"} {
		if strings.Contains(out, leak) {
			t.Fatalf("%q leaked: %s", leak, out)
		}
	}
	if !strings.Contains(out, "app") || !strings.Contains(out, "db:5432") {
		t.Fatalf("redaction removed more than the password: %s", out)
	}
	if c.Key.Reveal() != "s3cr3t" || c.DB.Reveal() != "postgres://app:hunter2@db:5432/sso" {
		t.Fatal("Reveal does not return the value")
	}
}
