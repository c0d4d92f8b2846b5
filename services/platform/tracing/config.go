package tracing

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/iechor/sso/services/platform/config"
)

// The OTLP protocols the exporter speaks.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Config is what the environment says about tracing, in the variables the OpenTelemetry
// specification defines, read with the suite's config.Reader so that a bad value stops the start.
type Config struct {
	// Disabled turns tracing off altogether (OTEL_SDK_DISABLED=true): no trace ids, no spans; the
	// request id is then a random token again.
	Disabled bool `json:"disabled"`
	// Endpoint is the URL spans are exported to; empty: nothing is exported. It is
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT (with /v1/traces
	// appended for http/protobuf, as the specification says).
	Endpoint config.DSN `json:"endpoint"`
	// Protocol is http/protobuf (the default) or grpc (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
	// OTEL_EXPORTER_OTLP_PROTOCOL).
	Protocol string `json:"protocol"`
	// ServiceName is OTEL_SERVICE_NAME: the service.name of a service that runs alone. In ssod each
	// component is named after itself.
	ServiceName string `json:"service_name"`
	// ResourceAttributes are OTEL_RESOURCE_ATTRIBUTES (key=value,... with values percent-encoded),
	// added to the resource of every component: deployment.environment.name, for example.
	ResourceAttributes map[string]string `json:"resource_attributes"`
	// Sampler and SamplerArg are OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; they apply only
	// when spans are exported. The default, parentbased_always_on, records every trace the edge
	// starts and follows the caller's decision everywhere else.
	Sampler    string `json:"sampler"`
	SamplerArg string `json:"sampler_arg"`
}

// Samplers by their names in OTEL_TRACES_SAMPLER.
var samplerNames = []string{
	"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
}

// LoadConfig reads the tracing variables through r and validates them.
func LoadConfig(r *config.Reader) (Config, error) {
	c := Config{
		Disabled:    r.Bool("OTEL_SDK_DISABLED", false),
		Protocol:    r.FirstString(ProtocolHTTP, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
		ServiceName: r.String("OTEL_SERVICE_NAME", ""),
		Sampler:     strings.ToLower(r.String("OTEL_TRACES_SAMPLER", "parentbased_always_on")),
		SamplerArg:  r.String("OTEL_TRACES_SAMPLER_ARG", ""),
	}
	var errs []error
	if v := r.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""); v != "" {
		c.Endpoint = config.DSN(v)
	} else if v := r.String("OTEL_EXPORTER_OTLP_ENDPOINT", ""); v != "" {
		if c.Protocol == ProtocolHTTP {
			v = strings.TrimSuffix(v, "/") + "/v1/traces"
		}
		c.Endpoint = config.DSN(v)
	}
	attrs, err := parseResourceAttributes(r.String("OTEL_RESOURCE_ATTRIBUTES", ""))
	if err != nil {
		errs = append(errs, err)
	}
	c.ResourceAttributes = attrs
	if err := r.Err(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// Validate checks values that parsed but make no sense.
func (c Config) Validate() error {
	var errs []error
	if c.Protocol != ProtocolHTTP && c.Protocol != ProtocolGRPC {
		errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want %s or %s", c.Protocol, ProtocolHTTP, ProtocolGRPC))
	}
	if e := c.Endpoint.Reveal(); e != "" {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %s: want an http:// or https:// URL", c.Endpoint))
		}
	}
	known := false
	for _, n := range samplerNames {
		known = known || c.Sampler == n
	}
	if !known {
		errs = append(errs, fmt.Errorf("OTEL_TRACES_SAMPLER %q: want one of %s", c.Sampler, strings.Join(samplerNames, ", ")))
	}
	if strings.HasSuffix(c.Sampler, "traceidratio") {
		if _, err := c.ratio(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ratio is the sampled fraction of a traceidratio sampler: OTEL_TRACES_SAMPLER_ARG, 1 when unset.
func (c Config) ratio() (float64, error) {
	if c.SamplerArg == "" {
		return 1, nil
	}
	f, err := strconv.ParseFloat(c.SamplerArg, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q: want a number from 0 to 1", c.SamplerArg)
	}
	return f, nil
}

// ServiceNameOr is the service.name of a service that runs alone: OTEL_SERVICE_NAME, else the
// service.name of OTEL_RESOURCE_ATTRIBUTES, else name.
func (c Config) ServiceNameOr(name string) string {
	if c.ServiceName != "" {
		return c.ServiceName
	}
	if n := c.ResourceAttributes["service.name"]; n != "" {
		return n
	}
	return name
}

// parseResourceAttributes reads key=value pairs separated by commas, values percent-encoded.
func parseResourceAttributes(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %q is not key=value", pair)
		}
		value, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: the value of %s is not percent-encoded", k)
		}
		out[k] = value
	}
	return out, nil
}
