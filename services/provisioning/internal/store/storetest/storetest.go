// Package storetest is the conformance suite of the directory store: every backend runs it, each case
// on a fresh, empty store. It checks what the rest of the service relies on: unique keys, cascades,
// seat counts that stay true under concurrent adders, and transactions that either commit whole or
// leave nothing.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/provisioning/internal/store"
)

// Open returns a new, empty store for one test.
type Open func(t *testing.T) store.Store

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func company(id string) store.Company {
	return store.Company{ID: id, DisplayName: strings.ToUpper(id), CreateTime: t0, UpdateTime: t0}
}

func org(id, companyID string, seats int) store.Organization {
	return store.Organization{ID: id, DisplayName: "Org " + id, Company: companyID, Plan: store.PlanBusiness,
		SeatLimit: seats, CreateTime: t0, UpdateTime: t0}
}

func user(id, email string) store.User {
	return store.User{ID: id, Email: email, FullName: "Name " + id, Username: "user" + id, CreateTime: t0, UpdateTime: t0}
}

func member(orgID, userID string, role store.Role) store.Membership {
	return store.Membership{Organization: orgID, User: userID, Role: role, CreateTime: t0}
}

// Run runs every case.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"a company reads back, updates and refuses a second company with its id", func(t *testing.T, s store.Store) {
			must(t, s.CreateCompany(ctx, company("acme")))
			wantErr(t, s.CreateCompany(ctx, company("acme")), store.ErrAlreadyExists)
			got, err := s.GetCompany(ctx, "acme")
			must(t, err)
			if got.DisplayName != "ACME" || !got.CreateTime.Equal(t0) {
				t.Fatalf("read back %+v", got)
			}
			got.DisplayName, got.UpdateTime = "Acme Inc.", t0.Add(time.Hour)
			must(t, s.UpdateCompany(ctx, got))
			again, _ := s.GetCompany(ctx, "acme")
			if again.DisplayName != "Acme Inc." || !again.UpdateTime.Equal(t0.Add(time.Hour)) {
				t.Fatalf("after update %+v", again)
			}
			_, err = s.GetCompany(ctx, "nope")
			wantErr(t, err, store.ErrNotFound)
			wantErr(t, s.UpdateCompany(ctx, company("nope")), store.ErrNotFound)
			wantErr(t, s.DeleteCompany(ctx, "nope"), store.ErrNotFound)
		}},
		{"a company with organizations cannot be deleted; without them it goes with its owners", func(t *testing.T, s store.Store) {
			must(t, s.CreateCompany(ctx, company("acme")))
			must(t, s.CreateUser(ctx, user("u1", "a@acme.test")))
			must(t, s.AddCompanyOwner(ctx, store.CompanyOwner{Company: "acme", User: "u1", CreateTime: t0}))
			must(t, s.CreateOrganization(ctx, org("eng", "acme", 0)))
			wantErr(t, s.DeleteCompany(ctx, "acme"), store.ErrReferenced)
			must(t, s.DeleteOrganization(ctx, "eng"))
			must(t, s.DeleteCompany(ctx, "acme"))
			owned, err := s.OwnedCompanies(ctx, "u1")
			must(t, err)
			if len(owned) != 0 {
				t.Fatalf("the deleted company's owners remain: %v", owned)
			}
		}},
		{"company owners are listed with their emails, counted, and removed", func(t *testing.T, s store.Store) {
			must(t, s.CreateCompany(ctx, company("acme")))
			for i := range 3 {
				id := fmt.Sprintf("u%d", i)
				must(t, s.CreateUser(ctx, user(id, id+"@acme.test")))
				must(t, s.AddCompanyOwner(ctx, store.CompanyOwner{Company: "acme", User: id, CreateTime: t0}))
			}
			wantErr(t, s.AddCompanyOwner(ctx, store.CompanyOwner{Company: "acme", User: "u0", CreateTime: t0}), store.ErrAlreadyExists)
			wantErr(t, s.AddCompanyOwner(ctx, store.CompanyOwner{Company: "acme", User: "ghost", CreateTime: t0}), store.ErrMissingReference)
			page, err := s.ListCompanyOwners(ctx, "acme", store.Page{Limit: 2})
			must(t, err)
			if len(page) != 2 || page[0].User != "u0" || page[0].Email != "u0@acme.test" {
				t.Fatalf("first page %+v", page)
			}
			rest, err := s.ListCompanyOwners(ctx, "acme", store.Page{After: page[1].User, Limit: 2})
			must(t, err)
			if len(rest) != 1 || rest[0].User != "u2" {
				t.Fatalf("second page %+v", rest)
			}
			must(t, s.RemoveCompanyOwner(ctx, "acme", "u1"))
			wantErr(t, s.RemoveCompanyOwner(ctx, "acme", "u1"), store.ErrNotFound)
			n, err := s.CountCompanyOwners(ctx, "acme")
			must(t, err)
			if n != 2 {
				t.Fatalf("%d owners after removing one of 3", n)
			}
			o, err := s.GetCompanyOwner(ctx, "acme", "u2")
			must(t, err)
			if o.Email != "u2@acme.test" {
				t.Fatalf("owner %+v", o)
			}
			owned, err := s.OwnedCompanies(ctx, "u2")
			must(t, err)
			if fmt.Sprint(owned) != "[acme]" {
				t.Fatalf("owned %v", owned)
			}
		}},
		{"organizations read back with their seat count and list by company in id order", func(t *testing.T, s store.Store) {
			must(t, s.CreateCompany(ctx, company("acme")))
			for _, id := range []string{"c", "a", "b"} {
				must(t, s.CreateOrganization(ctx, org(id, "acme", 5)))
			}
			must(t, s.CreateOrganization(ctx, org("solo", "", 0)))
			wantErr(t, s.CreateOrganization(ctx, org("a", "", 0)), store.ErrAlreadyExists)
			wantErr(t, s.CreateOrganization(ctx, org("x", "ghost", 0)), store.ErrMissingReference)
			must(t, s.CreateUser(ctx, user("u1", "u1@acme.test")))
			must(t, s.CreateMembership(ctx, member("a", "u1", store.RoleMember)))
			got, err := s.GetOrganization(ctx, "a")
			must(t, err)
			if got.Company != "acme" || got.Plan != store.PlanBusiness || got.SeatLimit != 5 || got.SeatsUsed != 1 {
				t.Fatalf("read back %+v", got)
			}
			solo, err := s.GetOrganization(ctx, "solo")
			must(t, err)
			if solo.Company != "" {
				t.Fatalf("a standalone organization reads back in company %q", solo.Company)
			}
			var ids []string
			after := ""
			for {
				page, err := s.ListOrganizations(ctx, "acme", store.Page{After: after, Limit: 2})
				must(t, err)
				for _, o := range page {
					ids = append(ids, o.ID)
				}
				if len(page) < 2 {
					break
				}
				after = page[len(page)-1].ID
			}
			if fmt.Sprint(ids) != "[a b c]" {
				t.Fatalf("listed %v", ids)
			}
			got.DisplayName, got.Plan, got.SeatLimit = "Renamed", store.PlanTeam, 9
			must(t, s.UpdateOrganization(ctx, got))
			again, _ := s.GetOrganization(ctx, "a")
			if again.DisplayName != "Renamed" || again.Plan != store.PlanTeam || again.SeatLimit != 9 || again.Company != "acme" {
				t.Fatalf("after update %+v", again)
			}
		}},
		{"deleting an organization deletes its teams, memberships, team members and invitations", func(t *testing.T, s store.Store) {
			must(t, s.CreateOrganization(ctx, org("eng", "", 0)))
			must(t, s.CreateUser(ctx, user("u1", "u1@acme.test")))
			must(t, s.CreateMembership(ctx, member("eng", "u1", store.RoleOwner)))
			must(t, s.CreateTeam(ctx, store.Team{Organization: "eng", ID: "core", DisplayName: "Core", CreateTime: t0}))
			must(t, s.AddTeamMember(ctx, store.TeamMember{Organization: "eng", Team: "core", User: "u1", CreateTime: t0}))
			must(t, s.CreateInvitation(ctx, store.Invitation{ID: "inv1", Organization: "eng", Email: "x@acme.test", Role: store.RoleMember, CreateTime: t0}))
			must(t, s.DeleteOrganization(ctx, "eng"))
			wantErr(t, s.DeleteOrganization(ctx, "eng"), store.ErrNotFound)
			ms, err := s.UserMemberships(ctx, "u1")
			must(t, err)
			if len(ms) != 0 {
				t.Fatalf("memberships of a deleted organization remain: %+v", ms)
			}
			// Re-creating the organization starts empty.
			must(t, s.CreateOrganization(ctx, org("eng", "", 0)))
			_, err = s.GetTeam(ctx, "eng", "core")
			wantErr(t, err, store.ErrNotFound)
			invs, err := s.PendingInvitations(ctx, "x@acme.test")
			must(t, err)
			if len(invs) != 0 {
				t.Fatalf("invitations of a deleted organization remain: %+v", invs)
			}
		}},
		{"teams read back, update, list in order, and deleting one clears it from pending invitations", func(t *testing.T, s store.Store) {
			must(t, s.CreateOrganization(ctx, org("eng", "", 0)))
			for _, id := range []string{"web", "core"} {
				must(t, s.CreateTeam(ctx, store.Team{Organization: "eng", ID: id, DisplayName: id, CreateTime: t0}))
			}
			wantErr(t, s.CreateTeam(ctx, store.Team{Organization: "eng", ID: "web", CreateTime: t0}), store.ErrAlreadyExists)
			wantErr(t, s.CreateTeam(ctx, store.Team{Organization: "ghost", ID: "web", CreateTime: t0}), store.ErrMissingReference)
			must(t, s.UpdateTeam(ctx, store.Team{Organization: "eng", ID: "web", DisplayName: "Web", Description: "front"}))
			tm, err := s.GetTeam(ctx, "eng", "web")
			must(t, err)
			if tm.DisplayName != "Web" || tm.Description != "front" || !tm.CreateTime.Equal(t0) {
				t.Fatalf("team %+v", tm)
			}
			teams, err := s.ListTeams(ctx, "eng", store.Page{Limit: 10})
			must(t, err)
			if len(teams) != 2 || teams[0].ID != "core" {
				t.Fatalf("teams %+v", teams)
			}
			must(t, s.CreateInvitation(ctx, store.Invitation{ID: "i1", Organization: "eng", Email: "x@acme.test", Team: "web", Role: store.RoleMember, CreateTime: t0}))
			must(t, s.DeleteTeam(ctx, "eng", "web"))
			wantErr(t, s.DeleteTeam(ctx, "eng", "web"), store.ErrNotFound)
			inv, err := s.GetInvitation(ctx, "eng", "i1")
			must(t, err)
			if inv.Team != "" || inv.State != store.InvitationPending {
				t.Fatalf("invitation after its team was deleted: %+v", inv)
			}
		}},
		{"emails are unique whatever their case, and so are usernames", func(t *testing.T, s store.Store) {
			must(t, s.CreateUser(ctx, user("u1", "Jane.Doe@Acme.test")))
			dup := user("u2", "jane.doe@ACME.TEST")
			dup.Username = "other"
			wantErr(t, s.CreateUser(ctx, dup), store.ErrAlreadyExists)
			sameName := user("u3", "john@acme.test")
			sameName.Username = "useru1"
			wantErr(t, s.CreateUser(ctx, sameName), store.ErrAlreadyExists)
			got, err := s.GetUserByEmail(ctx, "JANE.DOE@acme.TEST")
			must(t, err)
			if got.ID != "u1" || got.Email != "Jane.Doe@Acme.test" {
				t.Fatalf("by email %+v", got)
			}
			taken, err := s.UsernameTaken(ctx, "useru1")
			must(t, err)
			free, err := s.UsernameTaken(ctx, "useru9")
			must(t, err)
			if !taken || free {
				t.Fatalf("UsernameTaken: taken=%v free=%v", taken, free)
			}
			_, err = s.GetUserByEmail(ctx, "nobody@acme.test")
			wantErr(t, err, store.ErrNotFound)
		}},
		{"a user's email change moves its key, and the old address is free again", func(t *testing.T, s store.Store) {
			u := user("u1", "old@acme.test")
			must(t, s.CreateUser(ctx, u))
			must(t, s.CreateUser(ctx, user("u2", "taken@acme.test")))
			u.Email, u.FullName, u.Username, u.UpdateTime = "New@Acme.test", "New Name", "newname", t0.Add(time.Minute)
			must(t, s.UpdateUser(ctx, u))
			got, err := s.GetUserByEmail(ctx, "new@acme.test")
			must(t, err)
			if got.ID != "u1" || got.FullName != "New Name" || got.Username != "newname" || !got.UpdateTime.Equal(t0.Add(time.Minute)) {
				t.Fatalf("after update %+v", got)
			}
			must(t, s.CreateUser(ctx, user("u3", "OLD@acme.test")))
			u.Email = "TAKEN@acme.test"
			wantErr(t, s.UpdateUser(ctx, u), store.ErrAlreadyExists)
			wantErr(t, s.UpdateUser(ctx, user("ghost", "g@acme.test")), store.ErrNotFound)
		}},
		{"deleting a user deletes its memberships, team memberships, ownerships and links", func(t *testing.T, s store.Store) {
			must(t, s.CreateCompany(ctx, company("acme")))
			must(t, s.CreateOrganization(ctx, org("eng", "acme", 0)))
			must(t, s.CreateUser(ctx, user("u1", "u1@acme.test")))
			must(t, s.AddCompanyOwner(ctx, store.CompanyOwner{Company: "acme", User: "u1", CreateTime: t0}))
			must(t, s.CreateMembership(ctx, member("eng", "u1", store.RoleOwner)))
			must(t, s.CreateTeam(ctx, store.Team{Organization: "eng", ID: "core", CreateTime: t0}))
			must(t, s.AddTeamMember(ctx, store.TeamMember{Organization: "eng", Team: "core", User: "u1", CreateTime: t0}))
			must(t, s.CreateIdentityLink(ctx, store.IdentityLink{ID: "l1", User: "u1", Connection: "companies/acme/connections/c1", Subject: "s1", CreateTime: t0, LastSignIn: t0}))
			must(t, s.DeleteUser(ctx, "u1"))
			wantErr(t, s.DeleteUser(ctx, "u1"), store.ErrNotFound)
			if n, _ := s.CountCompanyOwners(ctx, "acme"); n != 0 {
				t.Fatalf("%d owners remain", n)
			}
			o, _ := s.GetOrganization(ctx, "eng")
			if o.SeatsUsed != 0 {
				t.Fatalf("%d seats used after the only member was deleted", o.SeatsUsed)
			}
			members, err := s.ListTeamMembers(ctx, "eng", "core", store.Page{Limit: 10})
			must(t, err)
			if len(members) != 0 {
				t.Fatalf("team members remain: %+v", members)
			}
			_, err = s.GetIdentityLink(ctx, "companies/acme/connections/c1", "s1")
			wantErr(t, err, store.ErrNotFound)
		}},
		{"an IdP subject links to one user per connection, and sign-ins are recorded", func(t *testing.T, s store.Store) {
			must(t, s.CreateUser(ctx, user("u1", "u1@acme.test")))
			must(t, s.CreateUser(ctx, user("u2", "u2@acme.test")))
			conn := "companies/acme/connections/c1"
			must(t, s.CreateIdentityLink(ctx, store.IdentityLink{ID: "l1", User: "u1", Connection: conn, Subject: "sub", CreateTime: t0, LastSignIn: t0}))
			wantErr(t, s.CreateIdentityLink(ctx, store.IdentityLink{ID: "l2", User: "u2", Connection: conn, Subject: "sub", CreateTime: t0, LastSignIn: t0}), store.ErrAlreadyExists)
			// The same subject on another connection is another identity.
			must(t, s.CreateIdentityLink(ctx, store.IdentityLink{ID: "l3", User: "u2", Connection: "companies/acme/connections/c2", Subject: "sub", CreateTime: t0, LastSignIn: t0}))
			wantErr(t, s.CreateIdentityLink(ctx, store.IdentityLink{ID: "l4", User: "ghost", Connection: conn, Subject: "other", CreateTime: t0, LastSignIn: t0}), store.ErrMissingReference)
			must(t, s.TouchIdentityLink(ctx, "l1", t0.Add(time.Hour)))
			l, err := s.GetIdentityLink(ctx, conn, "sub")
			must(t, err)
			if l.User != "u1" || !l.LastSignIn.Equal(t0.Add(time.Hour)) || !l.CreateTime.Equal(t0) {
				t.Fatalf("link %+v", l)
			}
			links, err := s.ListIdentityLinks(ctx, "u2", store.Page{Limit: 10})
			must(t, err)
			if len(links) != 1 || links[0].ID != "l3" {
				t.Fatalf("links of u2: %+v", links)
			}
		}},
		{"memberships carry the user's details, count seats and owners, and change role", func(t *testing.T, s store.Store) {
			must(t, s.CreateOrganization(ctx, org("eng", "", 0)))
			must(t, s.CreateOrganization(ctx, org("ops", "", 0)))
			for i := range 3 {
				id := fmt.Sprintf("u%d", i)
				must(t, s.CreateUser(ctx, user(id, id+"@acme.test")))
				must(t, s.CreateMembership(ctx, member("eng", id, store.RoleMember)))
			}
			must(t, s.CreateMembership(ctx, member("ops", "u0", store.RoleOwner)))
			wantErr(t, s.CreateMembership(ctx, member("eng", "u0", store.RoleOwner)), store.ErrAlreadyExists)
			wantErr(t, s.CreateMembership(ctx, member("eng", "ghost", store.RoleOwner)), store.ErrMissingReference)
			m, err := s.GetMembership(ctx, "eng", "u1")
			must(t, err)
			if m.Role != store.RoleMember || m.Email != "u1@acme.test" || m.Username != "useru1" || m.FullName != "Name u1" {
				t.Fatalf("membership %+v", m)
			}
			must(t, s.UpdateMembershipRole(ctx, "eng", "u1", store.RoleOwner))
			if n, _ := s.CountOwners(ctx, "eng"); n != 1 {
				t.Fatalf("%d owners of eng", n)
			}
			page, err := s.ListMemberships(ctx, "eng", store.Page{After: "u0", Limit: 10})
			must(t, err)
			if len(page) != 2 || page[0].User != "u1" || page[0].Role != store.RoleOwner {
				t.Fatalf("page %+v", page)
			}
			mine, err := s.UserMemberships(ctx, "u0")
			must(t, err)
			if len(mine) != 2 || mine[0].Organization != "eng" || mine[1].Role != store.RoleOwner {
				t.Fatalf("u0's memberships %+v", mine)
			}
			wantErr(t, s.UpdateMembershipRole(ctx, "eng", "ghost", store.RoleOwner), store.ErrNotFound)
		}},
		{"a team member must be a member of the organization and goes with the membership", func(t *testing.T, s store.Store) {
			must(t, s.CreateOrganization(ctx, org("eng", "", 0)))
			must(t, s.CreateUser(ctx, user("u1", "u1@acme.test")))
			must(t, s.CreateTeam(ctx, store.Team{Organization: "eng", ID: "core", CreateTime: t0}))
			wantErr(t, s.AddTeamMember(ctx, store.TeamMember{Organization: "eng", Team: "core", User: "u1", CreateTime: t0}), store.ErrMissingReference)
			must(t, s.CreateMembership(ctx, member("eng", "u1", store.RoleMember)))
			must(t, s.AddTeamMember(ctx, store.TeamMember{Organization: "eng", Team: "core", User: "u1", CreateTime: t0}))
			wantErr(t, s.AddTeamMember(ctx, store.TeamMember{Organization: "eng", Team: "core", User: "u1", CreateTime: t0}), store.ErrAlreadyExists)
			tm, err := s.GetTeamMember(ctx, "eng", "core", "u1")
			must(t, err)
			if tm.Email != "u1@acme.test" {
				t.Fatalf("team member %+v", tm)
			}
			must(t, s.DeleteMembership(ctx, "eng", "u1"))
			_, err = s.GetTeamMember(ctx, "eng", "core", "u1")
			wantErr(t, err, store.ErrNotFound)
			wantErr(t, s.RemoveTeamMember(ctx, "eng", "core", "u1"), store.ErrNotFound)
		}},
		{"one invitation is pending per email and organization, found by email in any case, accepted once", func(t *testing.T, s store.Store) {
			must(t, s.CreateOrganization(ctx, org("eng", "", 0)))
			must(t, s.CreateOrganization(ctx, org("ops", "", 0)))
			must(t, s.CreateUser(ctx, user("u1", "jane@acme.test")))
			inv := store.Invitation{ID: "i1", Organization: "eng", Email: "Jane@Acme.test", Role: store.RoleEditor, CreateTime: t0}
			must(t, s.CreateInvitation(ctx, inv))
			wantErr(t, s.CreateInvitation(ctx, store.Invitation{ID: "i2", Organization: "eng", Email: "JANE@acme.test", Role: store.RoleMember, CreateTime: t0}), store.ErrAlreadyExists)
			must(t, s.CreateInvitation(ctx, store.Invitation{ID: "i3", Organization: "ops", Email: "jane@acme.test", Role: store.RoleMember, CreateTime: t0.Add(time.Second)}))
			pending, err := s.PendingInvitations(ctx, "jane@ACME.test")
			must(t, err)
			if len(pending) != 2 || pending[0].ID != "i1" || pending[0].Role != store.RoleEditor || pending[0].Email != "Jane@Acme.test" {
				t.Fatalf("pending %+v", pending)
			}
			must(t, s.AcceptInvitation(ctx, "eng", "i1", "u1", t0.Add(time.Hour)))
			wantErr(t, s.AcceptInvitation(ctx, "eng", "i1", "u1", t0.Add(time.Hour)), store.ErrNotFound)
			got, err := s.GetInvitation(ctx, "eng", "i1")
			must(t, err)
			if got.State != store.InvitationAccepted || got.AcceptedBy != "u1" || !got.AcceptTime.Equal(t0.Add(time.Hour)) {
				t.Fatalf("accepted %+v", got)
			}
			// Once accepted, the email may be invited again.
			must(t, s.CreateInvitation(ctx, store.Invitation{ID: "i4", Organization: "eng", Email: "jane@acme.test", Role: store.RoleMember, CreateTime: t0}))
			all, err := s.ListInvitations(ctx, "eng", store.Page{Limit: 10})
			must(t, err)
			if len(all) != 2 {
				t.Fatalf("invitations of eng: %+v", all)
			}
			must(t, s.DeleteInvitation(ctx, "eng", "i4"))
			wantErr(t, s.DeleteInvitation(ctx, "eng", "i4"), store.ErrNotFound)
		}},
		{"company owners manage the company and its organizations; organization owners only theirs", func(t *testing.T, s store.Store) {
			must(t, s.CreateCompany(ctx, company("acme")))
			must(t, s.CreateCompany(ctx, company("rival")))
			must(t, s.CreateOrganization(ctx, org("eng", "acme", 0)))
			must(t, s.CreateOrganization(ctx, org("solo", "", 0)))
			for _, u := range []string{"boss", "lead", "dev", "spy", "nobody"} {
				must(t, s.CreateUser(ctx, user(u, u+"@x.test")))
			}
			must(t, s.AddCompanyOwner(ctx, store.CompanyOwner{Company: "acme", User: "boss", CreateTime: t0}))
			must(t, s.AddCompanyOwner(ctx, store.CompanyOwner{Company: "rival", User: "spy", CreateTime: t0}))
			must(t, s.CreateMembership(ctx, member("eng", "lead", store.RoleOwner)))
			must(t, s.CreateMembership(ctx, member("eng", "dev", store.RoleEditor)))
			must(t, s.CreateMembership(ctx, member("solo", "lead", store.RoleOwner)))
			for _, c := range []struct {
				user, kind, id string
				want           bool
			}{
				{"boss", "companies", "acme", true},
				{"boss", "organizations", "eng", true},
				{"boss", "organizations", "solo", false},
				{"lead", "organizations", "eng", true},
				{"lead", "companies", "acme", false},
				{"lead", "organizations", "solo", true},
				{"dev", "organizations", "eng", false},
				{"spy", "companies", "acme", false},
				{"spy", "organizations", "eng", false},
				{"nobody", "organizations", "eng", false},
				{"ghost", "companies", "acme", false},
				{"boss", "organizations", "ghost", false},
			} {
				got, err := s.CanManage(ctx, c.user, c.kind, c.id)
				must(t, err)
				if got != c.want {
					t.Errorf("CanManage(%s, %s/%s) = %v, want %v", c.user, c.kind, c.id, got, c.want)
				}
			}
		}},
		{"a user is in a tenant's reach by ownership, membership or an identity link through its connections, and in no other", func(t *testing.T, s store.Store) {
			must(t, s.CreateCompany(ctx, company("acme")))
			must(t, s.CreateCompany(ctx, company("globex")))
			must(t, s.CreateOrganization(ctx, org("eng", "acme", 0)))
			must(t, s.CreateOrganization(ctx, org("ops", "globex", 0)))
			must(t, s.CreateOrganization(ctx, org("a_b", "", 0)))
			must(t, s.CreateOrganization(ctx, org("axb", "", 0)))
			for _, u := range []string{"owner", "member", "linked", "orglinked", "stranger", "solo", "lookalike"} {
				must(t, s.CreateUser(ctx, user(u, u+"@x.test")))
			}
			must(t, s.AddCompanyOwner(ctx, store.CompanyOwner{Company: "acme", User: "owner", CreateTime: t0}))
			must(t, s.CreateMembership(ctx, member("eng", "member", store.RoleMember)))
			must(t, s.CreateMembership(ctx, member("ops", "stranger", store.RoleOwner)))
			link := func(id, userID, connection string) {
				must(t, s.CreateIdentityLink(ctx, store.IdentityLink{ID: id, User: userID, Connection: connection, Subject: id, CreateTime: t0, LastSignIn: t0}))
			}
			link("l1", "linked", "companies/acme/connections/conn_1")
			link("l2", "orglinked", "organizations/eng/connections/conn_2")
			link("l3", "stranger", "companies/globex/connections/conn_3")
			link("l4", "solo", "organizations/a_b/connections/conn_4")
			link("l5", "lookalike", "organizations/axb/connections/conn_5")
			link("l6", "lookalike", "companies/acme-evil/connections/conn_6")
			for _, c := range []struct {
				user, kind, id string
				want           bool
			}{
				{"owner", "companies", "acme", true},
				{"member", "companies", "acme", true},
				{"linked", "companies", "acme", true},
				{"orglinked", "companies", "acme", true},
				{"stranger", "companies", "acme", false},
				{"lookalike", "companies", "acme", false},
				{"stranger", "companies", "globex", true},
				{"member", "companies", "globex", false},
				{"solo", "organizations", "a_b", true},
				{"lookalike", "organizations", "a_b", false},
				{"member", "organizations", "eng", true},
				{"orglinked", "organizations", "eng", true},
				{"owner", "organizations", "ops", false},
				{"ghost", "companies", "acme", false},
			} {
				got, err := s.InReach(ctx, c.user, c.kind, c.id)
				must(t, err)
				if got != c.want {
					t.Errorf("InReach(%s, %s/%s) = %v, want %v", c.user, c.kind, c.id, got, c.want)
				}
			}
		}},
		{"audit events list newest first, page by page, and a company's log shows its organizations'", func(t *testing.T, s store.Store) {
			var last int64
			for i := range 5 {
				parent, comp := "organizations/eng", "acme"
				if i%2 == 0 {
					parent = "companies/acme"
				}
				e, err := s.AppendAuditEvent(ctx, store.AuditEvent{ID: fmt.Sprintf("e%d", i), Parent: parent, Company: comp,
					Actor: "system", Action: "test.step", Resource: parent, Time: t0.Add(time.Duration(i) * time.Second),
					Details: map[string]string{"i": fmt.Sprint(i)}})
				must(t, err)
				if e.Seq <= last {
					t.Fatalf("sequence %d after %d", e.Seq, last)
				}
				last = e.Seq
			}
			_, err := s.AppendAuditEvent(ctx, store.AuditEvent{ID: "other", Parent: "organizations/solo", Actor: "system", Action: "x.y", Time: t0})
			must(t, err)
			org, err := s.ListAuditEvents(ctx, store.AuditQuery{Parent: "organizations/eng", Limit: 10})
			must(t, err)
			if len(org) != 2 || org[0].ID != "e3" || org[1].ID != "e1" || org[0].Details["i"] != "3" || !org[0].Time.Equal(t0.Add(3*time.Second)) {
				t.Fatalf("organization's log %+v", org)
			}
			page1, err := s.ListAuditEvents(ctx, store.AuditQuery{Company: "acme", Limit: 3})
			must(t, err)
			page2, err := s.ListAuditEvents(ctx, store.AuditQuery{Company: "acme", Before: page1[2].Seq, Limit: 3})
			must(t, err)
			var ids []string
			for _, e := range append(page1, page2...) {
				ids = append(ids, e.ID)
			}
			if fmt.Sprint(ids) != "[e4 e3 e2 e1 e0]" {
				t.Fatalf("company's log %v", ids)
			}
			wantErr(t, func() error {
				_, err := s.AppendAuditEvent(ctx, store.AuditEvent{ID: "e0", Parent: "companies/acme", Actor: "system", Action: "x.y", Time: t0})
				return err
			}(), store.ErrAlreadyExists)
		}},
		{"a failed transaction leaves nothing behind", func(t *testing.T, s store.Store) {
			boom := errors.New("boom")
			err := s.InTx(ctx, func(tx store.Tx) error {
				must(t, tx.CreateOrganization(ctx, org("eng", "", 0)))
				must(t, tx.CreateUser(ctx, user("u1", "u1@acme.test")))
				must(t, tx.CreateMembership(ctx, member("eng", "u1", store.RoleOwner)))
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx returned %v", err)
			}
			_, err = s.GetOrganization(ctx, "eng")
			wantErr(t, err, store.ErrNotFound)
			_, err = s.GetUser(ctx, "u1")
			wantErr(t, err, store.ErrNotFound)
		}},
		{"a conflict inside a transaction leaves the transaction usable", func(t *testing.T, s store.Store) {
			must(t, s.CreateUser(ctx, user("u1", "u1@acme.test")))
			err := s.InTx(ctx, func(tx store.Tx) error {
				if err := tx.CreateUser(ctx, user("u2", "U1@acme.test")); !errors.Is(err, store.ErrAlreadyExists) {
					return fmt.Errorf("duplicate email in a transaction: %v", err)
				}
				return tx.CreateOrganization(ctx, org("eng", "", 0))
			})
			must(t, err)
			if _, err := s.GetOrganization(ctx, "eng"); err != nil {
				t.Fatalf("the write after the conflict was lost: %v", err)
			}
		}},
		{"writes in a transaction are seen by its later reads", func(t *testing.T, s store.Store) {
			must(t, s.InTx(ctx, func(tx store.Tx) error {
				must(t, tx.CreateOrganization(ctx, org("eng", "", 0)))
				must(t, tx.CreateUser(ctx, user("u1", "u1@acme.test")))
				must(t, tx.CreateMembership(ctx, member("eng", "u1", store.RoleOwner)))
				o, err := tx.LockOrganization(ctx, "eng")
				if err != nil || o.SeatsUsed != 1 {
					return fmt.Errorf("locked organization %+v, %v", o, err)
				}
				return nil
			}))
		}},
		{"locking the row of an unknown organization is not found", func(t *testing.T, s store.Store) {
			must(t, s.CreateOrganization(ctx, org("eng", "", 0)))
			must(t, s.InTx(ctx, func(tx store.Tx) error {
				if err := tx.LockOrganizationRow(ctx, "eng"); err != nil {
					return err
				}
				if err := tx.LockOrganizationRow(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("unknown organization: %v", err)
				}
				return nil
			}))
		}},
		{"adders that lock the organization never exceed its seat limit", func(t *testing.T, s store.Store) {
			must(t, s.CreateOrganization(ctx, org("eng", "", 3)))
			for i := range 12 {
				must(t, s.CreateUser(ctx, user(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d@acme.test", i))))
			}
			full := errors.New("no seats")
			var wg sync.WaitGroup
			errs := make([]error, 12)
			start := make(chan struct{})
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = s.InTx(ctx, func(tx store.Tx) error {
						o, err := tx.LockOrganization(ctx, "eng")
						if err != nil {
							return err
						}
						if o.SeatsUsed >= o.SeatLimit {
							return full
						}
						return tx.CreateMembership(ctx, member("eng", fmt.Sprintf("u%d", i), store.RoleMember))
					})
				}()
			}
			close(start)
			wg.Wait()
			added := 0
			for _, err := range errs {
				switch {
				case err == nil:
					added++
				case !errors.Is(err, full):
					t.Fatalf("unexpected error: %v", err)
				}
			}
			o, err := s.GetOrganization(ctx, "eng")
			must(t, err)
			if added != 3 || o.SeatsUsed != 3 {
				t.Fatalf("%d adders succeeded and %d seats are used, want 3 of 3", added, o.SeatsUsed)
			}
		}},
		{"concurrent creations of one email make one user", func(t *testing.T, s store.Store) {
			var wg sync.WaitGroup
			errs := make([]error, 10)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					u := user(fmt.Sprintf("u%d", i), "same@acme.test")
					errs[i] = s.InTx(ctx, func(tx store.Tx) error { return tx.CreateUser(ctx, u) })
				}()
			}
			wg.Wait()
			made := 0
			for _, err := range errs {
				switch {
				case err == nil:
					made++
				case !errors.Is(err, store.ErrAlreadyExists):
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if made != 1 {
				t.Fatalf("%d users made for one email", made)
			}
		}},
		{"the store answers a ping", func(t *testing.T, s store.Store) {
			must(t, s.Ping(ctx))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}
