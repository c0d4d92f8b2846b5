package provisioning

import (
	"context"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/paging"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/directory"
)

// actorFrom reads who acts from the call's metadata (callmeta.ActorKey): users/{id} (the REST edge
// sets it to the authenticated admin), service:{name} (another service), or nothing (system).
func actorFrom(ctx context.Context) (directory.Actor, error) {
	v, ok := callmeta.IncomingActor(ctx)
	if !ok {
		return directory.System, nil
	}
	a, err := directory.ParseActor(v)
	if err != nil {
		return "", directory.Field(callmeta.ActorKey, err)
	}
	return a, nil
}

// Resource names. Each parser names the request field it reads, so that errors point at it.

func badName(field string) error { return directory.Field(field, directory.ErrInvalidName) }

// segments splits name into its parts and checks the fixed collection words and the ids between
// them: pattern "companies/*/owners/*" matches companies/acme/owners/usr_x.
func segments(field, name, pattern string) ([]string, error) {
	parts, want := strings.Split(name, "/"), strings.Split(pattern, "/")
	if len(parts) != len(want) {
		return nil, badName(field)
	}
	var ids []string
	for i, w := range want {
		if w == "*" {
			if !resourcename.ValidID(parts[i]) {
				return nil, badName(field)
			}
			ids = append(ids, parts[i])
		} else if parts[i] != w {
			return nil, badName(field)
		}
	}
	return ids, nil
}

func parseCompany(field, name string) (string, error) {
	ids, err := segments(field, name, "companies/*")
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func parseOrg(field, name string) (string, error) {
	ids, err := segments(field, name, "organizations/*")
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func parseUser(field, name string) (string, error) {
	ids, err := segments(field, name, "users/*")
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func parse2(field, name, pattern string) (string, string, error) {
	ids, err := segments(field, name, pattern)
	if err != nil {
		return "", "", err
	}
	return ids[0], ids[1], nil
}

// parseOwner reads companies/{c} or organizations/{o}.
func parseOwner(field, name string) (resourcename.Owner, error) {
	o, err := resourcename.ParseOwner(name)
	if err != nil {
		return o, badName(field)
	}
	return o, nil
}

// Paging.

// pageParams reads a page size and token; the token carries the last key of the previous page and
// is bound to the query's parameters.
func pageParams(size int32, token string, query ...string) (int, string, string, error) {
	n, err := paging.Size(size)
	if err != nil {
		return 0, "", "", directory.Field("page_size", err)
	}
	fp := paging.Fingerprint(query...)
	after, err := paging.Decode(token, fp)
	if err != nil {
		return 0, "", "", directory.Field("page_token", err)
	}
	return n, after, fp, nil
}

// cut trims a list read with one extra item to size and returns the next page token, empty on the
// last page.
func cut[T any](items []T, size int, key func(T) string, fp string) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, paging.Encode(key(items[size-1]), fp)
}

// beforeSeq reads the sequence number carried by an audit log page token.
func beforeSeq(after string) (int64, error) {
	if after == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(after, 10, 64)
	if err != nil || n <= 0 {
		return 0, directory.Field("page_token", paging.ErrBadToken)
	}
	return n, nil
}

// Update masks.

// maskPaths returns the fields to update: those of the mask, or every updatable field when the mask
// is empty or "*" (AIP-134). A path outside allowed is refused.
func maskPaths(mask *fieldmaskpb.FieldMask, allowed ...string) (map[string]bool, error) {
	out := map[string]bool{}
	paths := mask.GetPaths()
	if len(paths) == 0 || (len(paths) == 1 && paths[0] == "*") {
		for _, a := range allowed {
			out[a] = true
		}
		return out, nil
	}
	for _, p := range paths {
		ok := false
		for _, a := range allowed {
			ok = ok || p == a
		}
		if !ok {
			return nil, directory.Field("update_mask", directory.ErrInvalidUpdateMask)
		}
		out[p] = true
	}
	return out, nil
}
