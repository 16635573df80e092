package graphtest_test

import (
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// BenchmarkDeltaLarge measures, on a large generated tenant, the cost change
// tracking adds to mutations once a delta round ran (the tenant is compared
// with the tracked copy), and an unchanged tracked users/delta round.
func BenchmarkDeltaLarge(b *testing.B) {
	tn := graphtest.Generate(graphtest.GenSpec{Seed: 1, Users: 100000, Groups: 500, MaxGroupSize: 20000, DirectlyAssigned: 60000})
	tn.TenantID, tn.ClientID, tn.ClientSecret = tenantID, clientID, secret
	s := graphtest.NewServer(tn)
	defer s.Close()
	tok := token(b, s)
	r := get(b, s, tok, "/v1.0/users/delta?$deltatoken=latest")
	dl := r.body["@odata.deltaLink"].(string)
	b.Run("mutation", func(b *testing.B) {
		for b.Loop() {
			s.AddMember(tn.Groups[0].ID, tn.Users[0].ID)
		}
	})
	b.Run("set-user", func(b *testing.B) {
		u := tn.Users[1]
		for i := 0; b.Loop(); i++ {
			u.AccountEnabled = i%2 == 0
			s.SetUser(u)
		}
	})
	b.Run("unchanged-round", func(b *testing.B) {
		for b.Loop() {
			if r := get(b, s, tok, dl); r.status != 200 {
				b.Fatal(r.status)
			}
		}
	})
}
