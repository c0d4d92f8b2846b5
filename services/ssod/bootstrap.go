package ssod

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/provisioning"
)

// BootstrapCommand is `ssod bootstrap`: it creates the first company or organization and its owner
// (idempotently), and prints an access token of the owner for the first admin calls. It works on the
// stores directly, so the suite need not be running.
func BootstrapCommand(ctx context.Context, args []string, lookup config.Lookup, out io.Writer) error {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(out)
	var req provisioning.BootstrapRequest
	var tokenTTL time.Duration
	fs.StringVar(&req.Company, "company", "", "the company's name; its id is the name in lower case with hyphens")
	fs.StringVar(&req.Organization, "organization", "", "an organization's name (in the company, when --company is given)")
	fs.StringVar(&req.Plan, "plan", "business", "the organization's plan: free, team or business")
	fs.StringVar(&req.OwnerEmail, "owner", "", "the owner's email; the user is created when it does not exist")
	fs.StringVar(&req.OwnerName, "owner-name", "", "the owner's full name, when the user is created")
	fs.DurationVar(&tokenTTL, "token-ttl", 24*time.Hour, "how long the printed access token lasts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bootstrap: unexpected argument %q", fs.Arg(0))
	}
	if req.OwnerEmail == "" || (req.Company == "" && req.Organization == "") {
		return errors.New("bootstrap needs --owner EMAIL and --company NAME or --organization NAME")
	}
	if tokenTTL <= 0 || tokenTTL > 90*24*time.Hour {
		return errors.New("--token-ttl must be positive and at most 90 days")
	}
	cfg, err := LoadConfig(lookup)
	if err != nil {
		return err
	}
	base := cfg.Gateway.PublicBaseURL
	if cfg.PublicBaseURLFromListener {
		base = "http://" + cfg.Gateway.ListenAddr
	}
	res, token, err := Bootstrap(ctx, cfg, base, req, tokenTTL)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, res.Summary(base, token))
	return err
}

// Bootstrap creates the first company or organization and its owner, and signs an access token of
// the owner for the edge whose public URL is base.
func Bootstrap(ctx context.Context, cfg Config, base string, req provisioning.BootstrapRequest, ttl time.Duration) (provisioning.BootstrapResult, string, error) {
	res, err := provisioning.Bootstrap(ctx, cfg.Provisioning, req)
	if err != nil {
		return res, "", err
	}
	token, err := gateway.IssueBootstrapToken(cfg.Gateway.SigningKeysFile, base, res.Owner, res.OwnerEmail, time.Now(), ttl)
	return res, token, err
}
