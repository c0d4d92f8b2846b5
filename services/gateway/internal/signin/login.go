package signin

import (
	"context"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	loginv1 "github.com/iechor/sso/gen/iechor/sso/login/v1"
)

// Metadata keys that the edge sets from the HTTP request for the in-process LoginService. Clients
// cannot set them: the edge passes no client header through as metadata.
const (
	MetadataClientIP       = "x-client-ip"
	MetadataBrowserBinding = "x-browser-binding"
	MetadataAuthorization  = "x-bearer-token"
)

// LoginService serves /v1/login:start and /v1/login:redeem through grpc-gateway, in process.
type LoginService struct {
	loginv1.UnimplementedLoginServiceServer
	Flow *Flow
}

func fromMetadata(ctx context.Context, key string) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func clientName(t loginv1.ClientType) string {
	switch t {
	case loginv1.ClientType_CLIENT_TYPE_HUB:
		return clientHub
	case loginv1.ClientType_CLIENT_TYPE_DESKTOP:
		return clientDesktop
	case loginv1.ClientType_CLIENT_TYPE_CLI:
		return clientCLI
	}
	return ""
}

// principal returns the subject of a valid bearer token in the request, or "".
func (s *LoginService) principal(ctx context.Context) string {
	tok := fromMetadata(ctx, MetadataAuthorization)
	if tok == "" {
		return ""
	}
	c, err := s.Flow.Tokens.Verify(tok, s.Flow.now())
	if err != nil {
		return ""
	}
	return c.Subject
}

func (s *LoginService) StartLogin(ctx context.Context, req *loginv1.StartLoginRequest) (*loginv1.StartLoginResponse, error) {
	// Only a test sign-in asks who the caller is.
	var principal string
	if req.GetTestMode() {
		principal = s.principal(ctx)
	}
	res, err := s.Flow.start(ctx, startRequest{
		email:            req.GetEmail(),
		client:           clientName(req.GetClient().GetType()),
		clientVersion:    req.GetClient().GetVersion(),
		returnTo:         req.GetReturnTo(),
		challenge:        req.GetCodeChallenge(),
		challengeMethod:  req.GetCodeChallengeMethod(),
		connection:       strings.TrimSpace(req.GetConnection()),
		testMode:         req.GetTestMode(),
		principal:        principal,
		clientIP:         fromMetadata(ctx, MetadataClientIP),
		requireChallenge: true,
	})
	if err != nil {
		return nil, err
	}
	resp := &loginv1.StartLoginResponse{}
	if res.connection == nil {
		for _, c := range res.choices {
			resp.Connections = append(resp.Connections, loginConnection(c))
		}
		return resp, nil
	}
	handle, err := s.Flow.saveIntent(ctx, res.intent)
	if err != nil {
		return nil, err
	}
	resp.RedirectUrl = s.Flow.Policy.PublicBaseURL.JoinPath("sso", "begin", handle).String()
	resp.Connection = loginConnection(res.connection)
	resp.ExpireTime = timestamppb.New(s.Flow.now().Add(s.Flow.Policy.IntentTTL))
	return resp, nil
}

// loginConnection is a connection as the anonymous caller of login:start sees it: what to show and
// what to send back to choose it, and nothing of the company or organization it belongs to.
func loginConnection(c *connectionv1.ResolvedConnection) *loginv1.LoginConnection {
	return &loginv1.LoginConnection{Id: connectionID(c.GetName()), DisplayName: c.GetDisplayName()}
}

func (s *LoginService) RedeemLoginCode(ctx context.Context, req *loginv1.RedeemLoginCodeRequest) (*loginv1.RedeemLoginCodeResponse, error) {
	r, err := s.Flow.redeem(ctx, req.GetCode(), req.GetCodeVerifier(), fromMetadata(ctx, MetadataBrowserBinding), fromMetadata(ctx, MetadataClientIP))
	if err != nil {
		return nil, err
	}
	return &loginv1.RedeemLoginCodeResponse{
		AccessToken: r.token,
		TokenType:   "Bearer",
		ExpireTime:  timestamppb.New(r.expires),
		User:        &loginv1.LoginUser{Name: r.code.User, Email: r.code.Email, Username: r.code.Username, FullName: r.code.FullName},
	}, nil
}
