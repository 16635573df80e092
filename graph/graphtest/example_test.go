package graphtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// A real azidentity credential obtains a token from the simulated tenant,
// which then answers Graph requests.
func Example() {
	tenant, err := graphtest.LoadTenantFile("testdata/tenant.json")
	if err != nil {
		log.Fatal(err)
	}
	s := graphtest.NewServer(tenant)
	defer s.Close()

	cred, err := azidentity.NewClientSecretCredential(tenant.TenantID, tenant.ClientID, tenant.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.LoginEndpoint()},
				Transport: s.Client(),
			},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{
		Scopes: []string{s.GraphEndpoint() + "/.default"},
	})
	if err != nil {
		log.Fatal(err)
	}

	req, _ := http.NewRequest(http.MethodGet,
		s.GraphEndpoint()+"/v1.0/servicePrincipals(appId='"+tenant.Application.AppID+"')/appRoleAssignedTo?$select=principalType,principalDisplayName", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := s.Client().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Value []struct {
			PrincipalType        string `json:"principalType"`
			PrincipalDisplayName string `json:"principalDisplayName"`
		} `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		log.Fatal(err)
	}
	for _, a := range page.Value {
		fmt.Println(a.PrincipalType, a.PrincipalDisplayName)
	}
	fmt.Println(s.Requests()["POST /token"], "token request")
	// Output:
	// User Ada Lovelace
	// Group Engineering
	// ServicePrincipal build robot
	// 1 token request
}

// Make the first request about one user fail with 503 and a Retry-After
// header; the retry succeeds.
func ExampleServer_InjectFault() {
	tenant, err := graphtest.LoadTenantFile("testdata/tenant.json")
	if err != nil {
		log.Fatal(err)
	}
	s := graphtest.NewServer(tenant)
	defer s.Close()
	user := tenant.Users[0].ID
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", ID: user, Times: 1, Status: 503, RetryAfter: "2"})

	// A token with the standard library.
	resp, err := s.Client().PostForm(s.LoginEndpoint()+"/"+tenant.TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {tenant.ClientID},
		"client_secret": {tenant.ClientSecret},
		"scope":         {s.GraphEndpoint() + "/.default"},
	})
	if err != nil {
		log.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodGet, s.GraphEndpoint()+"/v1.0/users/"+user, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := s.Client().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Printf("%d Retry-After=%q\n", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	fmt.Println(s.Requests()["GET /v1.0/users/{id}"], "requests,", s.GraphRequests(), "to Graph")
	// Output:
	// 503 Retry-After="2"
	// 200 Retry-After=""
	// 2 requests, 2 to Graph
}

func BenchmarkMembersListing(b *testing.B) {
	t := testTenant()
	big := make([]string, 0, 5000)
	for i := 100; i < 5100; i++ {
		id := userID(i)
		t.Users = append(t.Users, graphtest.User{ID: id, UserPrincipalName: id + "@contoso.example", AccountEnabled: true})
		big = append(big, id)
	}
	t.Groups = append(t.Groups, graphtest.Group{ID: "00000000-0000-4000-8000-0000000a0099", DisplayName: "Big", Members: big})
	s := graphtest.NewServer(t)
	defer s.Close()
	tok := token(b, s)
	client := s.Client()
	b.ResetTimer()
	for b.Loop() {
		next := s.URL() + "/v1.0/groups/00000000-0000-4000-8000-0000000a0099/members?$top=999&$select=id,userPrincipalName"
		n := 0
		for next != "" {
			req, _ := http.NewRequest(http.MethodGet, next, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var page struct {
				Next  string            `json:"@odata.nextLink"`
				Value []json.RawMessage `json:"value"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			n += len(page.Value)
			next = page.Next
		}
		if n != 5000 {
			b.Fatalf("listed %d members", n)
		}
	}
}

// A generated tenant of 10,000 users, deterministic for its seed.
func ExampleGenerate() {
	t := graphtest.Generate(graphtest.GenSpec{Seed: 1, Users: 10000, DirectlyAssigned: 200,
		Groups: 20, MaxGroupSize: 5000, NestedGroups: 4, M365Groups: 3, DisabledPercent: 5, ServicePrincipals: 2})
	fmt.Println(t.Validate(), len(t.Users), "users,", len(t.Groups), "groups,", len(t.Assignments), "assignments")
	// Output:
	// <nil> 10000 users, 27 groups, 225 assignments
}

// A budget of 2 resource units per second: the third request is throttled.
func ExampleWithThrottle() {
	tenant, err := graphtest.LoadTenantFile("testdata/tenant.json")
	if err != nil {
		log.Fatal(err)
	}
	s := graphtest.NewServer(tenant, graphtest.WithThrottle(graphtest.Throttle{Budget: 2, Window: time.Second}))
	defer s.Close()
	resp, err := s.Client().PostForm(s.LoginEndpoint()+"/"+tenant.TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {tenant.ClientID},
		"client_secret": {tenant.ClientSecret},
		"scope":         {s.GraphEndpoint() + "/.default"},
	})
	if err != nil {
		log.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest(http.MethodGet, s.GraphEndpoint()+"/v1.0/users/"+tenant.Users[0].ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := s.Client().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Printf("%d RU=%q Retry-After=%q\n", resp.StatusCode, resp.Header.Get("x-ms-resource-unit"), resp.Header.Get("Retry-After"))
	}
	fmt.Printf("%+v\n", s.ThrottleStats())
	// Output:
	// 200 RU="1" Retry-After=""
	// 200 RU="1" Retry-After=""
	// 429 RU="" Retry-After="1"
	// {Throttled:1 EarlyRetries:0 ResourceUnits:2}
}
