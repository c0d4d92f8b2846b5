package jit

import (
	"strings"
	"testing"

	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

var coveredOrgs = map[string]store.Organization{"eng": {ID: "eng"}, "ops-team": {ID: "ops-team"}}

func TestMapGroups(t *testing.T) {
	for _, c := range []struct {
		name      string
		groups    []string
		grants    string // org/team, sorted
		malformed int
		uncovered int
	}{
		{"an organization:team group grants both", []string{"eng:core"}, "eng/core", 0, 0},
		{"names are slugged to ids, and duplicates after slugging grant once", []string{"ENG:Platform Team", "eng:platform-team", " eng : platform team "}, "eng/platform-team", 0, 0},
		{"grants come sorted by organization, then team", []string{"ops-team:b", "eng:z", "Ops Team:a"}, "eng/z ops-team/a ops-team/b", 0, 0},
		{"a group without a colon is malformed", []string{"Everyone"}, "", 1, 0},
		{"a group with two colons is malformed", []string{"eng:core:extra"}, "", 1, 0},
		{"an empty part is malformed", []string{":core", "eng:", "   :   "}, "", 3, 0},
		{"a part with nothing usable is malformed", []string{"eng:!!!"}, "", 1, 0},
		{"an organization the connection does not cover grants nothing", []string{"finance:core"}, "", 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			grants, warnings := mapGroups(c.groups, coveredOrgs)
			var got []string
			for _, g := range grants {
				got = append(got, g.org+"/"+g.team)
			}
			if strings.Join(got, " ") != c.grants {
				t.Fatalf("grants %v, want %s", got, c.grants)
			}
			wantWarnings := 0
			if c.malformed > 0 {
				wantWarnings++
				if !strings.HasPrefix(warnings[0], MalformedGroupsWarning) {
					t.Fatalf("warning %q", warnings[0])
				}
			}
			if c.uncovered > 0 {
				wantWarnings++
			}
			if len(warnings) != wantWarnings {
				t.Fatalf("warnings %q", warnings)
			}
		})
	}
}

func TestWarningsNameAFewGroupsOnly(t *testing.T) {
	var groups []string
	for range 25 {
		groups = append(groups, "bad")
	}
	_, warnings := mapGroups(groups, coveredOrgs)
	if !strings.Contains(warnings[0], "and 15 more") || strings.Count(warnings[0], `"bad"`) != maxNamedInWarning {
		t.Fatalf("warning %q", warnings[0])
	}
}

func FuzzMapGroups(f *testing.F) {
	for _, s := range []string{"eng:core", "Eng : Core Team", "finance:x", "a:b:c", ":", "ops-team:é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, group string) {
		grants, _ := mapGroups([]string{group}, coveredOrgs)
		for _, g := range grants {
			// Whatever an IdP sends, a grant names a covered organization and a valid team id.
			if _, ok := coveredOrgs[g.org]; !ok || !resourcename.ValidID(g.team) {
				t.Fatalf("group %q granted %+v", group, g)
			}
		}
	})
}
