package signin

import (
	"html/template"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/rpcerror"
)

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}} · iEchor</title></head>
<body>
<main>
<h1>{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .Choices}}<ul id="connections">{{range .Choices}}<li><a href="{{.URL}}">{{.Name}}</a></li>{{end}}</ul>{{end}}
{{if .Details}}<h2>Details for the administrator (test sign-in)</h2>
<dl id="details">{{range .Details}}<dt>{{.Key}}</dt><dd>{{.Value}}</dd>{{end}}</dl>{{end}}
{{if .Reason}}<p>Reason: <code id="reason">{{.Reason}}</code></p>{{end}}
{{if .Reference}}<p>Reference: <code id="reference">{{.Reference}}</code></p>{{end}}
</main>
</body>
</html>
`))

type choice struct{ Name, URL string }
type detail struct{ Key, Value string }

type page struct {
	Title     string
	Message   string
	Choices   []choice
	Details   []detail
	Reason    string
	Reference string
}

func renderPage(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}

// peopleReasons are failures whose message is written for the person signing in.
var peopleReasons = map[string]bool{
	"UNSOLICITED_RESPONSE": true, "EMAIL_OUTSIDE_DOMAINS": true, "NAMEID_NOT_EMAIL": true,
	"USER_NOT_ASSIGNED": true, "NO_SEATS": true, "DESKTOP_TOO_OLD": true, "RETURN_TO_NOT_ALLOWED": true,
	"NO_SSO_CONNECTION": true, "INVALID_EMAIL": true, "CONNECTION_INACTIVE": true, "CONNECTION_NOT_FOUND": true,
	"RATE_LIMITED": true, "INVALID_CODE_CHALLENGE": true, "USE_PERSONAL_ACCESS_TOKEN": true, "NOT_A_SAML_CONNECTION": true,
}

// sessionReasons are failures of a sign-in whose session is gone or belongs to another browser.
var sessionReasons = map[string]bool{"RELAY_STATE_UNKNOWN": true, "BROWSER_MISMATCH": true, "SIGN_IN_EXPIRED": true}

// statusOfReason is the HTTP status of refusals whose gRPC code does not imply it.
var statusOfReason = map[string]int{
	"BODY_TOO_LARGE":             http.StatusRequestEntityTooLarge,
	"ACS_UNSUPPORTED_MEDIA_TYPE": http.StatusUnsupportedMediaType,
}

// RenderError shows err to a person as renderError does; the edge's own checks use it for browser
// routes.
func RenderError(w http.ResponseWriter, r *http.Request, err error) { renderError(w, r, err) }

// renderError shows a failure to a person: the seed product's wording where it applies, a generic
// sentence otherwise, and always the typed reason and the request id as a reference. The check that
// failed is shown only for an admin's test sign-in; otherwise it is in the connection's error log.
func renderError(w http.ResponseWriter, r *http.Request, err error) {
	code, reason, md := rpcerror.Info(err)
	p := page{Title: "Sign-in failed", Reason: reason, Reference: logging.RequestID(r.Context())}
	httpStatus := http.StatusBadRequest
	switch {
	case sessionReasons[reason]:
		p.Message = sessionLost
	case peopleReasons[reason]:
		p.Message = status.Convert(err).Message()
	case code == codes.Unavailable, code == codes.DeadlineExceeded:
		p.Message = "Sign-in is unavailable right now. Try again in a moment."
		httpStatus = http.StatusServiceUnavailable
	default:
		p.Message = "Your sign-in could not be completed. Contact your company administrator and give them the reference below."
		if code == codes.Internal || code == codes.Unknown {
			httpStatus = http.StatusInternalServerError
		}
	}
	switch code {
	case codes.NotFound:
		httpStatus = http.StatusNotFound
	case codes.PermissionDenied:
		httpStatus = http.StatusForbidden
	case codes.ResourceExhausted:
		httpStatus = http.StatusTooManyRequests
		if s := md["retry_after_seconds"]; s != "" {
			w.Header().Set("Retry-After", s)
		}
	}
	if s, ok := statusOfReason[reason]; ok {
		httpStatus = s
	}
	if md["test_mode"] == "true" {
		p.Details = append(p.Details, detail{"reason", reason})
		for _, k := range []string{"check", "wanted", "got", "fix_by"} {
			if v := md[k]; v != "" {
				p.Details = append(p.Details, detail{k, v})
			}
		}
	}
	renderPage(w, httpStatus, p)
}
