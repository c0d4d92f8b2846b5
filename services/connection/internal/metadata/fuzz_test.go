package metadata_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/iechor/sso/services/connection/internal/metadata"
	"github.com/iechor/sso/services/connection/internal/secureurl"
)

// FuzzParse feeds the importer arbitrary documents: it must never panic, never accept a document
// with a declaration, and whatever it accepts must be complete.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata", "testdata/hostile"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := metadata.Parse(data, 64<<10)
		if err != nil {
			return
		}
		if bytes.Contains(bytes.ToUpper(data), []byte("<!DOCTYPE")) || bytes.Contains(bytes.ToUpper(data), []byte("<!ENTITY")) {
			t.Fatal("accepted a document with a declaration")
		}
		if p.EntityID == "" || len(p.Certificates) == 0 {
			t.Fatalf("accepted an incomplete identity provider: %+v", p)
		}
		if _, err := secureurl.Check(p.SSOURL); err != nil {
			t.Fatalf("accepted sign-in URL %q: %v", p.SSOURL, err)
		}
	})
}
