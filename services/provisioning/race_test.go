package provisioning_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// The races run on both backends; PostgreSQL is the one where they are real races (SQLite
// serializes writers on its file lock).
func TestProvisioningRaces(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := start(t, b)
		ctx := context.Background()

		t.Run("20 provisionings of one new identity at once make one user, one link and one membership per organization", func(t *testing.T) {
			w := newWorld(t, e, "same")
			id := w.identity("rush")
			id.Groups = []string{w.engID + ":core", w.opsID + ":oncall"}
			const n = 20
			resps := make([]*pb.ProvisionUserResponse, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					resps[i], errs[i] = w.provision(id, w.settings())
				}()
			}
			close(start)
			wg.Wait()
			created, added, teams := 0, 0, 0
			for i, err := range errs {
				if err != nil {
					t.Fatalf("provisioning %d failed: %v", i, err)
				}
				if resps[i].GetUser().GetName() != resps[0].GetUser().GetName() {
					t.Fatalf("two users: %s and %s", resps[i].GetUser().GetName(), resps[0].GetUser().GetName())
				}
				if resps[i].GetChanges().GetUserCreated() {
					created++
				}
				added += len(resps[i].GetChanges().GetMembershipsAdded())
				teams += len(resps[i].GetChanges().GetTeamsCreated())
			}
			if created != 1 || added != 2 || teams != 1 {
				t.Fatalf("reported %d users created, %d memberships added, %d teams created; want 1, 2, 1", created, added, teams)
			}
			user := resps[0].GetUser().GetName()
			links, err := e.dir.ListIdentityLinks(ctx, &pb.ListIdentityLinksRequest{Parent: user})
			noErr(t, err)
			if len(links.GetIdentityLinks()) != 1 {
				t.Fatalf("%d identity links", len(links.GetIdentityLinks()))
			}
			for _, org := range []string{w.eng, w.ops} {
				ms, err := e.dir.ListMemberships(ctx, &pb.ListMembershipsRequest{Parent: org})
				noErr(t, err)
				if len(ms.GetMemberships()) != 1 || ms.GetMemberships()[0].GetUser() != user {
					t.Fatalf("members of %s: %v", org, ms.GetMemberships())
				}
			}
			if m := w.teamMembers(t, w.ops+"/teams/oncall"); len(m) != 1 {
				t.Fatalf("oncall members %v", m)
			}
			provisions := 0
			for _, a := range actions(t, e, w.company) {
				if a == "user.provision" {
					provisions++
				}
			}
			if provisions != n {
				t.Fatalf("%d user.provision events for %d provisionings", provisions, n)
			}
		})

		t.Run("two new people racing for the last seat: one gets in, the other gets NO_SEATS and leaves no trace", func(t *testing.T) {
			for round := range 5 {
				w := newWorld(t, e, fmt.Sprintf("seat%d", round))
				_, err := e.dir.UpdateOrganization(ctx, &pb.UpdateOrganizationRequest{Organization: &pb.Organization{Name: w.eng, SeatLimit: 1}, UpdateMask: mask("seat_limit")})
				noErr(t, err)
				people := []*pb.Identity{w.identity("left"), w.identity("right")}
				errs := make([]error, len(people))
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i, id := range people {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, errs[i] = w.provision(id, w.settings())
					}()
				}
				close(start)
				wg.Wait()
				wins := 0
				for i, err := range errs {
					if err == nil {
						wins++
						continue
					}
					if code, reason, _ := rpcerror.Info(err); code != codes.FailedPrecondition || reason != "NO_SEATS" {
						t.Fatalf("round %d: the loser got %v", round, err)
					}
					_, lerr := e.operator.LookupUser(ctx, &pb.LookupUserRequest{Email: people[i].GetEmail()})
					wantReason(t, lerr, codes.NotFound, "USER_NOT_FOUND")
				}
				if wins != 1 || w.seats(t, w.eng) != 1 {
					t.Fatalf("round %d: %d winners, %d seats used", round, wins, w.seats(t, w.eng))
				}
				provisions := 0
				for _, a := range actions(t, e, w.company) {
					if a == "user.provision" {
						provisions++
					}
				}
				if provisions != 1 {
					t.Fatalf("round %d: %d user.provision events", round, provisions)
				}
			}
		})
	})
}
