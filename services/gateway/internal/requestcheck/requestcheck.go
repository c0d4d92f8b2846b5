// Package requestcheck checks a REST request against the API's protobuf descriptors before the edge
// forwards it: the query parameters the call takes and the JSON body its message accepts. What
// grpc-gateway, protojson or grpc-go would refuse in their own words (an unknown field, a string
// where a number goes, invalid UTF-8, a lone surrogate, a body nested a thousand deep) is refused
// here first, with a reason and a message of ours that names the field.
//
// It routes with grpc-gateway's own matcher over the same google.api.http rules, so that the call it
// checks is the call that will be served. It decides nothing that a service decides (whether a
// name, an email or a page token is valid): only whether the request has the shape of its call.
package requestcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/iechor/sso/services/platform/rpcerror"
)

// The refusals of this package, by ErrorInfo reason.
var (
	ErrInvalidBody  = rpcerror.New(codes.InvalidArgument, "INVALID_REQUEST_BODY", "The request body is not valid for this call.")
	ErrInvalidQuery = rpcerror.New(codes.InvalidArgument, "INVALID_QUERY_PARAMETER", "The query string is not valid for this call.")
	ErrInvalidUTF8  = rpcerror.New(codes.InvalidArgument, "INVALID_UTF8", "The request holds text that is not valid UTF-8.")
	ErrBodyTooLarge = rpcerror.New(codes.InvalidArgument, "BODY_TOO_LARGE", "The request body is too large.")
)

// Route is one REST binding of an RPC.
type Route struct {
	Method   string // GET, POST, PATCH, DELETE, PUT
	Template string // the google.api.http path template, such as /v1/{parent=companies/*}/domains
	RPC      protoreflect.FullName
	input    protoreflect.MessageDescriptor
	body     string          // "" (no body), "*" (the whole request) or the request field the body fills
	bound    map[string]bool // request field paths that the path or the body fills
}

// Checker checks requests against the routes of some services.
type Checker struct {
	routes []Route
	mux    *runtime.ServeMux
}

// New reads the google.api.http rules of every method of the services in files.
func New(files ...protoreflect.FileDescriptor) (*Checker, error) {
	c := &Checker{mux: runtime.NewServeMux(
		runtime.WithDisablePathLengthFallback(),
		// A request that matches no route is not this package's to refuse: the API's own router
		// answers it (404, 405).
		runtime.WithRoutingErrorHandler(func(context.Context, *runtime.ServeMux, runtime.Marshaler, http.ResponseWriter, *http.Request, int) {}),
	)}
	for _, f := range files {
		for i := 0; i < f.Services().Len(); i++ {
			sd := f.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					rt, err := newRoute(md, r)
					if err != nil {
						return nil, err
					}
					if err := c.mux.HandlePath(rt.Method, rt.Template, c.handler(rt)); err != nil {
						return nil, fmt.Errorf("route %s %s of %s: %w", rt.Method, rt.Template, rt.RPC, err)
					}
					c.routes = append(c.routes, rt)
				}
			}
		}
	}
	return c, nil
}

// Routes lists what the checker checks.
func (c *Checker) Routes() []Route { return c.routes }

var templateVariable = regexp.MustCompile(`\{([a-zA-Z0-9_.]+)`)

func newRoute(md protoreflect.MethodDescriptor, r *annotations.HttpRule) (Route, error) {
	rt := Route{RPC: md.FullName(), input: md.Input(), body: r.GetBody(), bound: map[string]bool{}}
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		rt.Method, rt.Template = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		rt.Method, rt.Template = http.MethodPost, p.Post
	case *annotations.HttpRule_Patch:
		rt.Method, rt.Template = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		rt.Method, rt.Template = http.MethodDelete, p.Delete
	case *annotations.HttpRule_Put:
		rt.Method, rt.Template = http.MethodPut, p.Put
	default:
		return Route{}, fmt.Errorf("%s: unsupported HTTP rule %v", md.FullName(), r.GetPattern())
	}
	for _, m := range templateVariable.FindAllStringSubmatch(rt.Template, -1) {
		rt.bound[m[1]] = true
	}
	if rt.body != "" && rt.body != "*" {
		if md.Input().Fields().ByName(protoreflect.Name(rt.body)) == nil {
			return Route{}, fmt.Errorf("%s: body field %q does not exist", md.FullName(), rt.body)
		}
		rt.bound[rt.body] = true
	}
	return rt, nil
}

type outcomeKey struct{}

type outcome struct {
	status int
	err    *rpcerror.Error
	body   []byte
	read   bool
}

// nowhere is the response writer of the routing pass: nothing is written there.
type nowhere struct{}

func (nowhere) Header() http.Header         { return http.Header{} }
func (nowhere) Write(b []byte) (int, error) { return len(b), nil }
func (nowhere) WriteHeader(int)             {}

// Check checks r against the route it matches, if any, and returns the HTTP status and the error
// to refuse it with, or 0 and nil. It reads the body of a call that takes one and puts it back
// for the handler.
func (c *Checker) Check(r *http.Request) (int, *rpcerror.Error) {
	out := &outcome{}
	c.mux.ServeHTTP(nowhere{}, r.WithContext(context.WithValue(r.Context(), outcomeKey{}, out)))
	if out.read {
		r.Body = io.NopCloser(bytes.NewReader(out.body))
	}
	return out.status, out.err
}

func (c *Checker) handler(rt Route) runtime.HandlerFunc {
	return func(_ http.ResponseWriter, r *http.Request, _ map[string]string) {
		out := r.Context().Value(outcomeKey{}).(*outcome)
		if err := rt.checkQuery(r.URL.RawQuery); err != nil {
			out.status, out.err = http.StatusBadRequest, err
			return
		}
		if rt.body == "" || r.Body == nil {
			return
		}
		body, err := io.ReadAll(r.Body)
		out.body, out.read = body, true
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			out.status, out.err = http.StatusRequestEntityTooLarge, ErrBodyTooLarge
			return
		case err != nil:
			out.status, out.err = http.StatusBadRequest, ErrInvalidBody.WithMessage("The request body could not be read.")
			return
		}
		target := rt.input
		if rt.body != "*" {
			target = rt.input.Fields().ByName(protoreflect.Name(rt.body)).Message()
		}
		if target == nil {
			return // a body bound to a scalar field: protojson's refusal is rewritten by the edge
		}
		if be := checkBody(body, target); be != nil {
			e := ErrInvalidBody
			if be.utf8 {
				e = ErrInvalidUTF8
			}
			e = e.WithMessage("%s", be.Error())
			if be.field != "" {
				e = e.With("field", be.field)
			}
			out.status, out.err = http.StatusBadRequest, e
		}
	}
}

var mapKeySyntax = regexp.MustCompile(`^(.*)\[(.*)\]$`)

// checkQuery refuses a query parameter that the call does not take, or whose value grpc-gateway
// could not put into its field. A call whose body is the whole request takes none.
func (rt Route) checkQuery(raw string) *rpcerror.Error {
	if raw == "" {
		return nil
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return ErrInvalidQuery.WithMessage("The query string is not valid URL encoding.")
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		refuse := func(format string, args ...any) *rpcerror.Error {
			return ErrInvalidQuery.WithMessage(format, args...).With("field", shortKey(key))
		}
		fieldKey := key
		if m := mapKeySyntax.FindStringSubmatch(key); m != nil {
			fieldKey = m[1]
		}
		path, leaf := resolve(rt.input, fieldKey)
		if leaf == nil || rt.body == "*" || rt.isBound(path) {
			return refuse("%q is not a query parameter of this call.", shortKey(key))
		}
		if !leaf.IsList() && len(values[key]) > 1 {
			return refuse("The query parameter %q is given more than once.", shortKey(key))
		}
		if err := runtime.PopulateQueryParameters(newMessage(rt.input), url.Values{key: values[key]}, utilities.NewDoubleArray(nil)); err != nil {
			return refuse("The query parameter %q %s.", shortKey(key), queryWants(leaf))
		}
	}
	// Each key is right on its own; two keys for one field (pageSize and page_size) are not.
	if err := runtime.PopulateQueryParameters(newMessage(rt.input), values, utilities.NewDoubleArray(nil)); err != nil {
		return ErrInvalidQuery.WithMessage("Two query parameters set the same field.")
	}
	return nil
}

func queryWants(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.Enum() != nil:
		return "must be one of " + enumNames(fd.Enum())
	case fd.Message() != nil && fd.Message().FullName() == "google.protobuf.FieldMask":
		return "must be comma-separated field paths such as displayName,saml"
	case fd.Message() != nil:
		return "cannot be given in the query string"
	}
	return "must be " + kindWords(fd.Kind())
}

// resolve follows a dotted key (JSON or proto names) through singular message fields, as
// grpc-gateway's query parser does, and returns the proto path and the last field, or nil.
func resolve(md protoreflect.MessageDescriptor, key string) (string, protoreflect.FieldDescriptor) {
	var names []string
	var fd protoreflect.FieldDescriptor
	for i, seg := range strings.Split(key, ".") {
		if i > 0 && (fd.Message() == nil || fd.IsList() || fd.IsMap()) {
			return "", nil
		}
		if i > 0 {
			md = fd.Message()
		}
		fd = md.Fields().ByTextName(seg)
		if fd == nil {
			fd = md.Fields().ByJSONName(seg)
		}
		if fd == nil {
			return "", nil
		}
		names = append(names, string(fd.Name()))
	}
	return strings.Join(names, "."), fd
}

// isBound reports whether the path or the body fills the field at path, or a field inside it or
// around it: grpc-gateway ignores such a query parameter.
func (rt Route) isBound(path string) bool {
	for b := range rt.bound {
		if b == path || strings.HasPrefix(path, b+".") || strings.HasPrefix(b, path+".") {
			return true
		}
	}
	return false
}

func newMessage(md protoreflect.MessageDescriptor) proto.Message {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		return mt.New().Interface()
	}
	return dynamicpb.NewMessage(md)
}
