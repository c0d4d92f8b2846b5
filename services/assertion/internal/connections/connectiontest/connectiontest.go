// Package connectiontest is a stand-in for the connection service in tests: a real gRPC server on
// loopback that serves GetRuntimeConnection from a map and streams changes on WatchConnections, as
// the peer service does. It is not a mock of a store, and production code never imports it.
package connectiontest

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
)

// Server serves connections.
type Server struct {
	connectionv1.UnimplementedConnectionInternalServiceServer
	// Addr is the loopback address to dial.
	Addr string

	mu       sync.Mutex
	conns    map[string]*connectionv1.RuntimeConnection
	calls    int
	watchers map[chan *connectionv1.WatchConnectionsResponse]bool
	grpc     *grpc.Server
}

// Start serves on a free loopback port until t ends, with opts (grpc.Creds for mutual TLS).
func Start(t testing.TB, opts ...grpc.ServerOption) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: lis.Addr().String(), conns: map[string]*connectionv1.RuntimeConnection{},
		watchers: map[chan *connectionv1.WatchConnectionsResponse]bool{}, grpc: grpc.NewServer(opts...)}
	connectionv1.RegisterConnectionInternalServiceServer(s.grpc, s)
	go func() { _ = s.grpc.Serve(lis) }()
	t.Cleanup(s.grpc.Stop)
	return s
}

func id(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }

// Put adds or replaces a connection and tells the watchers.
func (s *Server) Put(rc *connectionv1.RuntimeConnection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := proto.Clone(rc).(*connectionv1.RuntimeConnection)
	s.conns[c.GetName()] = c
	s.conns[id(c.GetName())] = c
	for w := range s.watchers {
		w <- &connectionv1.WatchConnectionsResponse{Names: []string{c.GetName()}, ConnectionIds: []string{id(c.GetName())}}
	}
}

// Calls returns how many GetRuntimeConnection calls were served.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Watchers returns how many change streams are open.
func (s *Server) Watchers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}

func (s *Server) GetRuntimeConnection(_ context.Context, req *connectionv1.GetRuntimeConnectionRequest) (*connectionv1.GetRuntimeConnectionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	c, ok := s.conns[req.GetConnection()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such connection")
	}
	return &connectionv1.GetRuntimeConnectionResponse{Connection: proto.Clone(c).(*connectionv1.RuntimeConnection)}, nil
}

func (s *Server) WatchConnections(_ *connectionv1.WatchConnectionsRequest, stream grpc.ServerStreamingServer[connectionv1.WatchConnectionsResponse]) error {
	ch := make(chan *connectionv1.WatchConnectionsResponse, 64)
	s.mu.Lock()
	s.watchers[ch] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, ch)
		s.mu.Unlock()
	}()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case msg := <-ch:
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
}

// Fixture returns the runtime connection the SAML fixtures were made for, active, with the IdP
// certificates idp, idp-next and idp-ec, the SP keys sp (active) and sp-old.
func Fixture(t testing.TB) *connectionv1.RuntimeConnection {
	return &connectionv1.RuntimeConnection{
		Name:             fixtures.ConnectionName,
		Owner:            "companies/acme",
		DisplayName:      fixtures.DisplayName,
		Type:             connectionv1.ConnectionType_CONNECTION_TYPE_SAML,
		State:            connectionv1.ConnectionState_CONNECTION_STATE_ACTIVE,
		Domains:          []string{fixtures.Domain},
		SpEntityId:       fixtures.SPEntityID,
		AcsUrl:           fixtures.ACSURL,
		IdpEntityId:      fixtures.IdPEntityID,
		IdpSsoUrl:        "https://idp.example.test/sso",
		IdpCertificates:  []string{fixtures.CertificatePEM(t, "idp"), fixtures.CertificatePEM(t, "idp-next"), fixtures.CertificatePEM(t, "idp-ec")},
		SignRequests:     true,
		ClockSkewSeconds: 0,
		SpKeys: []*connectionv1.ServiceProviderKey{
			{PrivateKeyPem: fixtures.KeyPEM(t, "sp"), CertificatePem: fixtures.CertificatePEM(t, "sp"), Active: true},
			{PrivateKeyPem: fixtures.KeyPEM(t, "sp-old"), CertificatePem: fixtures.CertificatePEM(t, "sp-old")},
		},
		AttributeMapping: &connectionv1.ResolvedAttributeMapping{
			Email:    []string{"email", "NameID"},
			FullName: []string{"displayName"},
			Groups:   []string{"groups"},
		},
		JitEnabled:            true,
		Organizations:         []string{"organizations/eng"},
		DefaultOrganization:   "organizations/eng",
		DefaultTeam:           "organizations/eng/teams/devs",
		DefaultSessionMinutes: 480,
		Revision:              1,
	}
}
