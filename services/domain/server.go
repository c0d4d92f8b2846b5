package domain

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	"github.com/iechor/sso/services/domain/internal/store"
	"github.com/iechor/sso/services/domain/internal/verification"
	"github.com/iechor/sso/services/platform/domainname"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/paging"
	"github.com/iechor/sso/services/platform/resourcename"
)

// server implements DomainService: it parses requests, calls the store and the verifier, and maps
// results; the rules live in domainname and verification.
type server struct {
	domainv1.UnimplementedDomainServiceServer
	store       store.Store
	verifier    *verification.Verifier
	now         func() time.Time
	checkWindow time.Duration
}

const collection = "domains"

// parseName parses {owner}/domains/{domain}, normalizing the domain segment.
func parseName(name string) (resourcename.Owner, string, error) {
	owner, seg, err := resourcename.ParseChild(name, collection)
	if err != nil {
		return owner, "", err
	}
	ascii, _, err := domainname.Normalize(seg)
	return owner, ascii, err
}

func (s *server) CreateDomain(ctx context.Context, req *domainv1.CreateDomainRequest) (*domainv1.CreateDomainResponse, error) {
	owner, err := resourcename.ParseOwner(req.GetParent())
	if err != nil {
		return nil, toStatus(err, "parent")
	}
	ascii, display, err := domainname.Normalize(req.GetDomainName())
	if err != nil {
		return nil, toStatus(err, "domain_name")
	}
	now := s.now().UTC().Truncate(time.Microsecond) // what the store keeps
	d := store.Domain{
		Owner:       owner.String(),
		Name:        ascii,
		DisplayName: display,
		Token:       opaque.LowerToken(20),
		State:       store.Pending,
		CreateTime:  now,
		NextCheck:   s.verifier.FirstCheck(now).Truncate(time.Microsecond),
		CheckUntil:  now.Add(s.checkWindow),
	}
	if err := s.store.Create(ctx, d); err != nil {
		return nil, toStatus(err, "domain_name")
	}
	return &domainv1.CreateDomainResponse{Domain: toProto(d)}, nil
}

func (s *server) GetDomain(ctx context.Context, req *domainv1.GetDomainRequest) (*domainv1.GetDomainResponse, error) {
	owner, name, err := parseName(req.GetName())
	if err != nil {
		return nil, toStatus(err, "name")
	}
	d, err := s.store.Get(ctx, owner.String(), name)
	if err != nil {
		return nil, toStatus(err, "name")
	}
	return &domainv1.GetDomainResponse{Domain: toProto(d)}, nil
}

func (s *server) ListDomains(ctx context.Context, req *domainv1.ListDomainsRequest) (*domainv1.ListDomainsResponse, error) {
	owner, err := resourcename.ParseOwner(req.GetParent())
	if err != nil {
		return nil, toStatus(err, "parent")
	}
	size, err := paging.Size(req.GetPageSize())
	if err != nil {
		return nil, toStatus(err, "page_size")
	}
	state := stateFromProto(req.GetState())
	fp := paging.Fingerprint(owner.String(), string(state))
	after, err := paging.Decode(req.GetPageToken(), fp)
	if err != nil {
		return nil, toStatus(err, "page_token")
	}
	ds, err := s.store.List(ctx, store.ListQuery{Owner: owner.String(), State: state, After: after, Limit: size + 1})
	if err != nil {
		return nil, toStatus(err, "")
	}
	resp := &domainv1.ListDomainsResponse{}
	if len(ds) > size {
		ds = ds[:size]
		resp.NextPageToken = paging.Encode(ds[size-1].Name, fp)
	}
	for _, d := range ds {
		resp.Domains = append(resp.Domains, toProto(d))
	}
	return resp, nil
}

func (s *server) DeleteDomain(ctx context.Context, req *domainv1.DeleteDomainRequest) (*domainv1.DeleteDomainResponse, error) {
	owner, name, err := parseName(req.GetName())
	if err != nil {
		return nil, toStatus(err, "name")
	}
	if err := s.store.Delete(ctx, owner.String(), name); err != nil {
		return nil, toStatus(err, "name")
	}
	return &domainv1.DeleteDomainResponse{}, nil
}

func (s *server) VerifyDomain(ctx context.Context, req *domainv1.VerifyDomainRequest) (*domainv1.VerifyDomainResponse, error) {
	owner, name, err := parseName(req.GetName())
	if err != nil {
		return nil, toStatus(err, "name")
	}
	d, err := s.verifier.Verify(ctx, owner.String(), name, false)
	if err != nil {
		return nil, toStatus(err, "name")
	}
	return &domainv1.VerifyDomainResponse{Domain: toProto(d)}, nil
}

func (s *server) ListVerificationAttempts(ctx context.Context, req *domainv1.ListVerificationAttemptsRequest) (*domainv1.ListVerificationAttemptsResponse, error) {
	owner, name, err := parseName(req.GetParent())
	if err != nil {
		return nil, toStatus(err, "parent")
	}
	size, err := paging.Size(req.GetPageSize())
	if err != nil {
		return nil, toStatus(err, "page_size")
	}
	fp := paging.Fingerprint(owner.String(), name)
	after, err := paging.Decode(req.GetPageToken(), fp)
	if err != nil {
		return nil, toStatus(err, "page_token")
	}
	var before int64
	if after != "" {
		if before, err = parseID(after); err != nil {
			return nil, toStatus(paging.ErrBadToken, "page_token")
		}
	}
	as, err := s.store.ListAttempts(ctx, owner.String(), name, before, size+1)
	if err != nil {
		return nil, toStatus(err, "parent")
	}
	resp := &domainv1.ListVerificationAttemptsResponse{}
	if len(as) > size {
		as = as[:size]
		resp.NextPageToken = paging.Encode(formatID(as[size-1].ID), fp)
	}
	for _, a := range as {
		resp.Attempts = append(resp.Attempts, attemptToProto(&a))
	}
	return resp, nil
}

// internalServer implements DomainInternalService, for the other services of the suite.
type internalServer struct {
	domainv1.UnimplementedDomainInternalServiceServer
	store store.Store
}

func (s *internalServer) LookupDomain(ctx context.Context, req *domainv1.LookupDomainRequest) (*domainv1.LookupDomainResponse, error) {
	var (
		name string
		err  error
	)
	switch q := req.GetQuery().(type) {
	case *domainv1.LookupDomainRequest_Email:
		name, err = domainname.FromEmail(q.Email)
		if err != nil {
			return nil, toStatus(err, "email")
		}
	case *domainv1.LookupDomainRequest_DomainName:
		name, _, err = domainname.Normalize(q.DomainName)
		if err != nil {
			return nil, toStatus(err, "domain_name")
		}
	default:
		return nil, ErrMissingQuery
	}
	d, err := s.store.VerifiedOwner(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrDomainNotVerified
		}
		return nil, toStatus(err, "")
	}
	return &domainv1.LookupDomainResponse{Domain: toProto(d), Owner: d.Owner}, nil
}

func toProto(d store.Domain) *domainv1.Domain {
	p := &domainv1.Domain{
		Name:           d.Owner + "/" + collection + "/" + d.Name,
		DomainName:     d.Name,
		DisplayName:    d.DisplayName,
		State:          stateToProto(d.State),
		TxtRecord:      &domainv1.TxtRecord{Name: d.Name, Type: "TXT", Value: verification.RecordValue(d.Token)},
		CreateTime:     timestamppb.New(d.CreateTime),
		CheckUntilTime: timestamppb.New(d.CheckUntil),
		LastAttempt:    attemptToProto(d.LastAttempt),
	}
	if !d.VerifyTime.IsZero() {
		p.VerifyTime = timestamppb.New(d.VerifyTime)
	}
	if !d.NextCheck.IsZero() {
		p.NextCheckTime = timestamppb.New(d.NextCheck)
	}
	return p
}

func attemptToProto(a *store.Attempt) *domainv1.VerificationAttempt {
	if a == nil {
		return nil
	}
	return &domainv1.VerificationAttempt{
		AttemptTime: timestamppb.New(a.Time),
		Outcome:     outcomeToProto[a.Outcome],
		FoundValues: a.Found,
		Detail:      a.Detail,
		Automatic:   a.Automatic,
	}
}

var outcomeToProto = map[store.Outcome]domainv1.VerificationOutcome{
	store.OutcomeVerified:            domainv1.VerificationOutcome_VERIFICATION_OUTCOME_VERIFIED,
	store.OutcomeNXDomain:            domainv1.VerificationOutcome_VERIFICATION_OUTCOME_NXDOMAIN,
	store.OutcomeNoTXTRecords:        domainv1.VerificationOutcome_VERIFICATION_OUTCOME_NO_TXT_RECORDS,
	store.OutcomeValueMismatch:       domainv1.VerificationOutcome_VERIFICATION_OUTCOME_VALUE_MISMATCH,
	store.OutcomeResolverUnreachable: domainv1.VerificationOutcome_VERIFICATION_OUTCOME_RESOLVER_UNREACHABLE,
	store.OutcomeTimeout:             domainv1.VerificationOutcome_VERIFICATION_OUTCOME_TIMEOUT,
	store.OutcomeResolverError:       domainv1.VerificationOutcome_VERIFICATION_OUTCOME_RESOLVER_ERROR,
	store.OutcomeClaimed:             domainv1.VerificationOutcome_VERIFICATION_OUTCOME_CLAIMED,
}

func stateToProto(s store.State) domainv1.DomainState {
	switch s {
	case store.Pending:
		return domainv1.DomainState_DOMAIN_STATE_PENDING
	case store.Verified:
		return domainv1.DomainState_DOMAIN_STATE_VERIFIED
	}
	return domainv1.DomainState_DOMAIN_STATE_UNSPECIFIED
}

func stateFromProto(s domainv1.DomainState) store.State {
	switch s {
	case domainv1.DomainState_DOMAIN_STATE_PENDING:
		return store.Pending
	case domainv1.DomainState_DOMAIN_STATE_VERIFIED:
		return store.Verified
	}
	return ""
}
