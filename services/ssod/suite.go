// Package ssod runs the whole suite in one process: every service on its own loopback port, talking
// to the others over gRPC exactly as separate deployments do, and the REST edge in front. On the
// embedded defaults it needs nothing but a folder for its SQLite files and development keys.
//
// Internal gRPC runs over mutual TLS here too: at start an ephemeral CA, held in memory, issues each
// component a certificate that names it, so that every service checks its callers as it does when
// deployed. No one outside the process can hold such a certificate, and nothing a caller writes
// into a request changes who it is.
//
// It stops in dependency order: readiness turns NOT_SERVING everywhere at once, the edge drains and
// finishes its requests, and only then does each service stop, the callers before the called
// (assertion, connection, provisioning, domain), each after the one before has stopped. A service
// must never stop while something that may still call it runs: a sign-in validated and then refused
// because provisioning had gone would be lost.
package ssod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/iechor/sso/services/assertion"
	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/domain"
	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/mtls"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/tracing"
	"github.com/iechor/sso/services/provisioning"
)

// Command is the ssod command line: serve (the default) or bootstrap. The binary's main calls it
// with a context that ends at SIGTERM; the shutdown test runs it the same way in a child process.
func Command(ctx context.Context, args []string, lookup config.Lookup, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "bootstrap":
			return BootstrapCommand(ctx, args[1:], lookup, stdout)
		case "serve":
			args = args[1:]
		case "-h", "--help", "help":
			fmt.Fprintln(stdout, "usage: ssod [serve] | ssod bootstrap --company NAME --owner EMAIL [--organization NAME] [--plan business]")
			return nil
		default:
			return fmt.Errorf("unknown command %q: want serve or bootstrap", args[0])
		}
	}
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments; configure it with environment variables")
	}
	cfg, err := LoadConfig(lookup)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogLevel, "ssod")
	tr, err := tracing.New(ctx, cfg.Tracing, log)
	if err != nil {
		return err
	}
	// The spans still waiting are exported once every service has stopped.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingStopTimeout)
		defer cancel()
		if err := tr.Shutdown(sctx); err != nil {
			log.Warn("tracing: the last spans could not be exported", "err", err)
		}
	}()
	suite, err := Start(ctx, cfg, log, gateway.Options{}, tr)
	if err != nil {
		return err
	}
	log.Info("iEchor SSO is running", "rest", suite.PublicBaseURL, "data_dir", cfg.DataDir, "tracing", cfg.Tracing, "exports", tr.Exports())
	return suite.Wait()
}

// tracingStopTimeout bounds the export of the last spans when the process stops.
const tracingStopTimeout = 5 * time.Second

// Config is the configuration of every service in the process.
type Config struct {
	// DataDir holds the SQLite files and the development keys (DATA_DIR).
	DataDir string `json:"data_dir"`
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string `json:"log_level"`
	// PublicBaseURLFromListener is set when PUBLIC_BASE_URL is not: the edge's URL is then
	// http://{the address the gateway listens on}.
	PublicBaseURLFromListener bool `json:"public_base_url_from_listener"`
	// Shutdown is the drain of the edge and the grace of each server (SHUTDOWN_DRAIN,
	// SHUTDOWN_GRACE).
	Shutdown config.Shutdown `json:"shutdown"`
	// Tracing is read from the OTEL_* variables; each component's spans are named after it
	// (OTEL_SERVICE_NAME names a service that runs alone).
	Tracing      tracing.Config      `json:"tracing"`
	Domain       domain.Config       `json:"domain"`
	Provisioning provisioning.Config `json:"provisioning"`
	Connection   connection.Config   `json:"connection"`
	Assertion    assertion.Config    `json:"assertion"`
	Gateway      gateway.Config      `json:"gateway"`
	// CA issues each component's certificate at Start: a fresh one, in memory, when nil. A test
	// passes its own, to call the components as any caller.
	CA *mtls.CA `json:"-"`
}

// services with a durable store, and the file each gets under DATA_DIR without a database URL.
var stores = []string{"DOMAIN", "PROVISIONING", "CONNECTION", "ASSERTION"}

// LoadConfig reads every service's configuration from one environment. Where a standalone service
// would require a value, the all-in-one binary supplies a development default under DATA_DIR:
// a SQLite file per service (unless DATABASE_URL or <SERVICE>_DATABASE_URL is set), an encryption
// key for the connection service and a signing key for access tokens (created on first start), and
// the in-process ephemeral store (unless Redis is configured).
func LoadConfig(lookup config.Lookup) (Config, error) {
	base := config.NewReader(lookup)
	dataDir := base.String("DATA_DIR", "./data")
	set := func(name string) bool {
		v, ok := lookup(name)
		return ok && v != ""
	}
	defaults := map[string]string{}
	for _, svc := range stores {
		if !set(svc+"_DATABASE_URL") && !set("DATABASE_URL") {
			defaults[svc+"_DATABASE_URL"] = "sqlite:" + filepath.Join(dataDir, strings.ToLower(svc)+".db")
		}
	}
	if !set("ENCRYPTION_KEY") && !set("ENCRYPTION_KEY_FILE") {
		path := filepath.Join(dataDir, "encryption.key")
		if _, err := connection.EnsureDevelopmentKey(path); err != nil {
			return Config{}, fmt.Errorf("development encryption key: %w", err)
		}
		defaults["ENCRYPTION_KEY_FILE"] = path
	}
	if !set("GATEWAY_SIGNING_KEYS_FILE") {
		path := filepath.Join(dataDir, "signing-keys.pem")
		if err := gateway.EnsureSigningKeyFile(path); err != nil {
			return Config{}, fmt.Errorf("development signing key: %w", err)
		}
		defaults["GATEWAY_SIGNING_KEYS_FILE"] = path
	}
	if !set("REDIS_URL") && !set("REDIS_SENTINEL_ADDRS") && !set("REDIS_CLUSTER_ADDRS") {
		defaults["EPHEMERAL_STORE"] = "memory"
	}
	// The components' certificates come from the process's own CA (Start); files would give every
	// component the same identity, and the development switch has nothing to let in.
	for _, name := range []string{"GRPC_TLS_CERT", "GRPC_TLS_KEY", "GRPC_TLS_CA", "GRPC_ALLOW_UNIDENTIFIED_CALLERS"} {
		if set(name) {
			return Config{}, fmt.Errorf("%s is for the services run separately: ssod issues its components' certificates itself, in memory", name)
		}
	}
	r := config.NewReader(func(name string) (string, bool) {
		if v, ok := lookup(name); ok && v != "" {
			return v, true
		}
		v, ok := defaults[name]
		return v, ok
	})
	c := Config{DataDir: dataDir, LogLevel: r.String("LOG_LEVEL", "info"), PublicBaseURLFromListener: !set("PUBLIC_BASE_URL"),
		Shutdown: config.LoadShutdown(r)}
	var errs []error
	var err error
	if c.Domain, err = domain.LoadConfig(r); err != nil {
		errs = append(errs, err)
	}
	if c.Provisioning, err = provisioning.LoadConfig(r); err != nil {
		errs = append(errs, err)
	}
	if c.Connection, err = connection.LoadConfig(r); err != nil {
		errs = append(errs, err)
	}
	if c.Assertion, err = assertion.LoadConfig(r); err != nil {
		errs = append(errs, err)
	}
	if c.Gateway, err = gateway.LoadConfig(r); err != nil {
		errs = append(errs, err)
	}
	if c.Tracing, err = tracing.LoadConfig(r); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// Suite is the running process.
type Suite struct {
	// PublicBaseURL is the edge's URL.
	PublicBaseURL string
	// Addrs are where the gRPC services listen.
	Addrs Addrs

	done chan struct{}
	err  error // set before done closes
}

// Addrs are the addresses of the suite's gRPC services.
type Addrs struct{ Domain, Provisioning, Connection, Assertion string }

type listeners struct{ domain, provisioning, connection, assertion, gateway net.Listener }

func (l listeners) close() {
	for _, x := range []net.Listener{l.domain, l.provisioning, l.connection, l.assertion, l.gateway} {
		if x != nil {
			_ = x.Close()
		}
	}
}

// Start listens on every configured address (port 0 picks a free one), points the services at each
// other's actual addresses, and serves until ctx ends. Wait returns the first error. Each component
// is traced by tr under its own name (nil: nothing is traced); the caller shuts tr down after Wait.
func Start(ctx context.Context, cfg Config, log *slog.Logger, opts gateway.Options, tr *tracing.Tracing) (*Suite, error) {
	var l listeners
	var err error
	for _, x := range []struct {
		lis  *net.Listener
		addr string
	}{
		{&l.domain, cfg.Domain.ListenAddr}, {&l.provisioning, cfg.Provisioning.ListenAddr},
		{&l.connection, cfg.Connection.ListenAddr}, {&l.assertion, cfg.Assertion.ListenAddr},
		{&l.gateway, cfg.Gateway.ListenAddr},
	} {
		if *x.lis, err = net.Listen("tcp", x.addr); err != nil {
			l.close()
			return nil, fmt.Errorf("listen %s: %w", x.addr, err)
		}
	}
	addr := func(x net.Listener) string { return x.Addr().String() }
	if cfg.PublicBaseURLFromListener {
		cfg.Gateway.PublicBaseURL = "http://" + addr(l.gateway)
		cfg.Connection.PublicBaseURL = cfg.Gateway.PublicBaseURL
	}
	cfg.Provisioning.DomainAddr = addr(l.domain)
	cfg.Connection.DomainAddr, cfg.Connection.ProvisioningAddr = addr(l.domain), addr(l.provisioning)
	cfg.Assertion.ConnectionAddr = addr(l.connection)
	cfg.Gateway.DomainAddr, cfg.Gateway.ProvisioningAddr = addr(l.domain), addr(l.provisioning)
	cfg.Gateway.ConnectionAddr, cfg.Gateway.AssertionAddr = addr(l.connection), addr(l.assertion)
	opts.AllowInProcessStore = true
	opts.Tracing = tr.Component("gateway")
	if err := issueIdentities(&cfg); err != nil {
		l.close()
		return nil, err
	}
	log.Info("internal gRPC runs over mutual TLS with certificates of an in-process CA", "trust_domain", cfg.CA.TrustDomain())

	reg := metrics.NewRegistry()
	domainSvc, err := domain.New(ctx, cfg.Domain, log.With("component", "domain"), reg, domain.WithTracing(tr.Component("domain")))
	if err != nil {
		l.close()
		return nil, err
	}
	provisioningSvc, err := provisioning.New(ctx, cfg.Provisioning, log.With("component", "provisioning"), reg,
		provisioning.WithTracing(tr.Component("provisioning")))
	if err != nil {
		l.close()
		return nil, err
	}
	connectionSvc, err := connection.NewWithOptions(ctx, cfg.Connection, log.With("component", "connection"), reg,
		connection.Options{Tracing: tr.Component("connection")})
	if err != nil {
		l.close()
		return nil, err
	}
	assertionSvc, err := assertion.New(ctx, cfg.Assertion, log.With("component", "assertion"), reg, assertion.WithTracing(tr.Component("assertion")))
	if err != nil {
		l.close()
		return nil, err
	}
	gw, err := gateway.New(ctx, cfg.Gateway, log.With("component", "gateway"), reg, opts)
	if err != nil {
		l.close()
		return nil, err
	}

	// Each server has a context of its own, which the shutdown ends in order.
	failed := make(chan error, 5)
	serve := func(name string, run func(context.Context) error) *server {
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		srv := &server{name: name, stop: stop, done: make(chan struct{})}
		go func() {
			defer close(srv.done)
			err := run(sctx)
			switch {
			case err != nil:
				failed <- fmt.Errorf("%s: %w", name, err)
			case sctx.Err() == nil:
				failed <- fmt.Errorf("%s stopped on its own", name)
			}
		}()
		return srv
	}
	// The order of the stop: the callers before the called.
	backends := []*server{
		serve("assertion", func(c context.Context) error { return assertionSvc.Serve(c, l.assertion) }),
		serve("connection", func(c context.Context) error { return connectionSvc.Serve(c, l.connection) }),
		serve("provisioning", func(c context.Context) error { return provisioningSvc.Serve(c, l.provisioning) }),
		serve("domain", func(c context.Context) error { return domainSvc.Serve(c, l.domain) }),
	}
	edge := serve("gateway", func(c context.Context) error { return gw.Serve(c, l.gateway) })
	notServing := func() {
		gw.Drain()
		assertionSvc.NotServing()
		connectionSvc.NotServing()
		provisioningSvc.NotServing()
		domainSvc.NotServing()
	}
	s := &Suite{
		PublicBaseURL: cfg.Gateway.PublicBaseURL,
		Addrs:         Addrs{Domain: addr(l.domain), Provisioning: addr(l.provisioning), Connection: addr(l.connection), Assertion: addr(l.assertion)},
		done:          make(chan struct{}),
	}
	go s.shutdown(ctx, cfg.Shutdown.Drain, log, notServing, failed, append([]*server{edge}, backends...))
	return s, nil
}

// issueIdentities gives each component a certificate of cfg.CA (made now when nil) that names it.
func issueIdentities(cfg *Config) error {
	if cfg.CA == nil {
		ca, err := mtls.NewCA(cfg.Domain.TLS.Domain())
		if err != nil {
			return fmt.Errorf("in-process CA: %w", err)
		}
		cfg.CA = ca
	}
	for _, c := range []struct {
		name string
		tls  *mtls.Config
	}{
		{"domain", &cfg.Domain.TLS}, {"provisioning", &cfg.Provisioning.TLS}, {"connection", &cfg.Connection.TLS},
		{"assertion", &cfg.Assertion.TLS}, {"gateway", &cfg.Gateway.TLS},
	} {
		id, err := cfg.CA.Issue(c.name)
		if err != nil {
			return fmt.Errorf("certificate of %s: %w", c.name, err)
		}
		*c.tls = id
	}
	return nil
}

// server is one service of the suite, serving until stop is called.
type server struct {
	name string
	stop context.CancelFunc
	done chan struct{}
}

// shutdown waits for ctx to end (or for a service to fail), turns readiness off everywhere, lets the
// edge serve on for the drain, then stops the servers one after the other in the order given.
func (s *Suite) shutdown(ctx context.Context, drain time.Duration, log *slog.Logger, notServing func(), failed chan error, order []*server) {
	var errs []error
	select {
	case <-ctx.Done():
		notServing()
		log.Info("shutting down: readiness is off; the edge serves on for the drain", "drain", drain)
		drained := make(chan struct{})
		go func() { process.WaitDrain(ctx, drain); close(drained) }()
		select {
		case <-drained:
		case err := <-failed:
			errs = append(errs, err)
			log.Error("a service failed during the drain; stopping the others", "err", err)
		}
	case err := <-failed:
		errs = append(errs, err)
		notServing()
		log.Error("a service failed; stopping the others", "err", err)
	}
	for _, srv := range order {
		srv.stop()
		<-srv.done
		log.Info("stopped", "server", srv.name)
	}
	for len(failed) > 0 {
		errs = append(errs, <-failed)
	}
	s.err = errors.Join(errs...)
	close(s.done)
}

// Wait blocks until every service has stopped and returns what made any of them fail.
func (s *Suite) Wait() error {
	<-s.done
	return s.err
}
