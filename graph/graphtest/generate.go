package graphtest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strconv"
)

// LargeSpec is the large tenant of `entrasync bench --scenario large` and
// of the benchmarks: 100,000 users, 60,000 directly assigned, 500 security
// groups of Zipf-skewed sizes up to 20,000 (and 20 nested, 5 Microsoft 365
// groups, 3 % disabled users, 10 service principals).
var LargeSpec = GenSpec{Seed: 2, Users: 100_000, DirectlyAssigned: 60_000, Groups: 500, MaxGroupSize: 20_000,
	NestedGroups: 20, M365Groups: 5, DisabledPercent: 3, ServicePrincipals: 10}

// GenSpec describes a tenant for Generate. Negative numbers count as zero.
type GenSpec struct {
	Seed             int64 // the same seed, the same tenant
	Users            int   // users in the tenant
	DirectlyAssigned int   // how many of them hold a direct assignment (at most Users)
	Groups           int   // assigned security groups
	// MaxGroupSize is the number of user members of the largest assigned
	// security group (at most Users; 0 means min(Users, 1000)). Sizes are
	// Zipf-like: the group of rank r has about MaxGroupSize/r user members
	// (±15%, at least 1); members are drawn at random, so groups overlap.
	MaxGroupSize int
	// NestedGroups are extra security groups nested inside assigned security
	// groups (every fifth inside an earlier nested group instead, so nesting
	// goes deeper than one level), with user members of their own (Zipf-like
	// up to MaxGroupSize/10). They are not assigned.
	NestedGroups int
	// M365Groups are assigned Microsoft 365 groups (groupTypes ["Unified"],
	// mailEnabled; securityEnabled only for every fourth) with user members
	// (Zipf-like up to MaxGroupSize/4).
	M365Groups        int
	DisabledPercent   int // share of users with accountEnabled false (exactly Users*DisabledPercent/100)
	ServicePrincipals int // assigned service principals; every fifth is also a member of an assigned security group
}

// genDomain is the verified domain of generated tenants.
const genDomain = "contoso.example"

// Generate builds a large, realistic tenant, deterministic for spec.Seed.
//
// Object ids are random lower-case version 4 GUIDs (drawn from the seeded
// generator); assignment ids are 43-character base64url strings as in Graph.
// Users are about 96.5% members named given.surname@contoso.example (a
// number appended to repeated names; some capitalized, like
// Ada.Lovelace@contoso.example; display names may hold non-ASCII letters),
// 2.5% guests (alice_fabrikam.example#EXT#@contoso.example with their home
// mail) and 1% service accounts (svc-backup-17@contoso.example, no given
// name, surname or mail); about 4% of the members have no mail and 3% a mail
// on another domain than their UPN. About one assignment in five names one of
// three app roles, the others the default role. The assignments, groups and
// users are in random order. The result passes Validate.
//
// Generate is linear in the size of the tenant: 100,000 users and 500 groups
// of up to 20,000 members (some 170,000 memberships) take about 0.1 s and
// 25 MB (BenchmarkGenerate). Validate on such a tenant takes longer than
// generating it.
func Generate(spec GenSpec) *Tenant {
	nu := max(spec.Users, 0)
	maxSize := spec.MaxGroupSize
	if maxSize <= 0 {
		maxSize = 1000
	}
	maxSize = min(maxSize, nu)
	g := &generator{rng: rand.New(rand.NewPCG(uint64(spec.Seed), 0x9e3779b97f4a7c15))}

	t := &Tenant{
		TenantID:     g.guid(),
		ClientID:     g.guid(),
		ClientSecret: "gen~" + g.token(18),
		Application: ServicePrincipal{
			ID:          g.guid(),
			AppID:       g.guid(),
			DisplayName: "Entrasync Provisioning (generated)",
		},
	}
	roles := [3]string{g.guid(), g.guid(), g.guid()}

	t.Users = g.users(nu)
	perm := make([]int32, nu)
	for i := range perm {
		perm[i] = int32(i)
	}
	for _, i := range g.sample(perm, nu*min(max(spec.DisabledPercent, 0), 100)/100) {
		t.Users[i].AccountEnabled = false
	}
	direct := append([]int32(nil), g.sample(perm, min(max(spec.DirectlyAssigned, 0), nu))...)

	nSec, nNested, nM365 := max(spec.Groups, 0), max(spec.NestedGroups, 0), max(spec.M365Groups, 0)
	t.Groups = make([]Group, 0, nSec+nNested+nM365)
	members := func(size int) []string {
		ids := make([]string, 0, size)
		for _, i := range g.sample(perm, size) {
			ids = append(ids, t.Users[i].ID)
		}
		return ids
	}
	for i, size := range g.zipfSizes(nSec, maxSize) {
		t.Groups = append(t.Groups, Group{
			ID:              g.guid(),
			DisplayName:     g.groupName("SG", i),
			SecurityEnabled: true,
			MailEnabled:     i%10 == 9, // mail-enabled security group
			Members:         members(size),
		})
	}
	for i, size := range g.zipfSizes(nM365, max(maxSize/4, min(1, maxSize))) {
		t.Groups = append(t.Groups, Group{
			ID:              g.guid(),
			DisplayName:     g.groupName("Team", i),
			SecurityEnabled: i%4 == 3,
			MailEnabled:     true,
			GroupTypes:      []string{"Unified"},
			Members:         members(size),
		})
	}
	firstNested := len(t.Groups)
	for i, size := range g.zipfSizes(nNested, max(maxSize/10, min(1, maxSize))) {
		ng := Group{
			ID:              g.guid(),
			DisplayName:     g.groupName("NG", i),
			SecurityEnabled: true,
			Members:         members(size),
		}
		parent := -1
		switch {
		case i > 0 && (nSec == 0 || i%5 == 4):
			parent = firstNested + g.rng.IntN(i)
		case nSec > 0:
			parent = g.rng.IntN(nSec)
		}
		if parent >= 0 {
			t.Groups[parent].Members = append(t.Groups[parent].Members, ng.ID)
		}
		t.Groups = append(t.Groups, ng)
	}

	nSP := max(spec.ServicePrincipals, 0)
	t.ServicePrincipals = make([]ServicePrincipal, nSP)
	for i := range t.ServicePrincipals {
		sp := ServicePrincipal{ID: g.guid(), AppID: g.guid(),
			DisplayName: appWords[g.rng.IntN(len(appWords))] + " " + strconv.Itoa(i+1)}
		t.ServicePrincipals[i] = sp
		if i%5 == 4 && nSec > 0 {
			gi := g.rng.IntN(nSec)
			t.Groups[gi].Members = append(t.Groups[gi].Members, sp.ID)
		}
	}

	t.Assignments = make([]Assignment, 0, len(direct)+nSec+nM365+nSP)
	assign := func(principal string) {
		role := DefaultAppRoleID
		if g.rng.IntN(5) == 0 {
			role = roles[g.rng.IntN(len(roles))]
		}
		t.Assignments = append(t.Assignments, Assignment{ID: g.token(32), PrincipalID: principal, AppRoleID: role})
	}
	for _, i := range direct {
		assign(t.Users[i].ID)
	}
	for i := 0; i < nSec+nM365; i++ {
		assign(t.Groups[i].ID)
	}
	for _, sp := range t.ServicePrincipals {
		assign(sp.ID)
	}

	g.rng.Shuffle(len(t.Assignments), func(i, j int) { t.Assignments[i], t.Assignments[j] = t.Assignments[j], t.Assignments[i] })
	g.rng.Shuffle(len(t.Groups), func(i, j int) { t.Groups[i], t.Groups[j] = t.Groups[j], t.Groups[i] })
	return t
}

type generator struct {
	rng *rand.Rand
	buf []byte
}

// guid returns a random lower-case version 4 GUID.
func (g *generator) guid() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], g.rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:], g.rng.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// token returns n random bytes in base64url without padding.
func (g *generator) token(n int) string {
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], g.rng.Uint64())
	}
	return base64.RawURLEncoding.EncodeToString(b[:n])
}

// sample moves k distinct random elements of perm (a permutation of the
// user indices, kept a permutation) to its front and returns them: a partial
// Fisher-Yates shuffle, O(k). The result is valid until the next call.
func (g *generator) sample(perm []int32, k int) []int32 {
	n := len(perm)
	k = min(k, n)
	for i := 0; i < k; i++ {
		j := i + g.rng.IntN(n-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm[:k]
}

// zipfSizes returns n group sizes: the group of rank r (from 1) has about
// largest/r members (±15%, at least 1; the first exactly largest), in random
// order.
func (g *generator) zipfSizes(n, largest int) []int {
	sizes := make([]int, n)
	for r := range sizes {
		if r == 0 {
			sizes[r] = largest
			continue
		}
		f := float64(largest) / float64(r+1) * (0.85 + 0.3*g.rng.Float64())
		sizes[r] = max(min(int(math.Round(f)), largest), min(1, largest))
	}
	g.rng.Shuffle(n, func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	return sizes
}

func (g *generator) groupName(prefix string, i int) string {
	b := append(g.buf[:0], prefix...)
	b = append(b, '-')
	b = append(b, departments[g.rng.IntN(len(departments))]...)
	b = append(b, '-')
	b = append(b, areas[g.rng.IntN(len(areas))]...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(i+1), 10)
	g.buf = b
	return string(b)
}

// users generates n users, all enabled.
func (g *generator) users(n int) []User {
	users := make([]User, n)
	seen := make([]int32, len(givenNames)*len(surnames)) // uses of each name pair
	svc := 0
	for i := range users {
		u := &users[i]
		u.ID = g.guid()
		u.AccountEnabled = true
		kind := g.rng.IntN(1000)
		if kind < 10 { // service account
			svc++
			b := append(g.buf[:0], "svc-"...)
			b = append(b, svcWords[g.rng.IntN(len(svcWords))]...)
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(svc), 10)
			u.DisplayName = string(b)
			b = append(b, '@')
			b = append(b, genDomain...)
			u.UserPrincipalName = string(b)
			g.buf = b
			continue
		}
		gi, si := g.rng.IntN(len(givenNames)), g.rng.IntN(len(surnames))
		given, sur := &givenNames[gi], &surnames[si]
		seen[gi*len(surnames)+si]++
		nth := seen[gi*len(surnames)+si]
		u.GivenName, u.Surname = given.display, sur.display
		u.DisplayName = given.display + " " + sur.display

		// The local part: given.surname, a number from the second use of
		// the name pair on (unique, as names hold no dots or digits).
		b := g.buf[:0]
		title := kind < 25 || g.rng.IntN(10) < 3
		b = appendName(b, given.ascii, title)
		b = append(b, '.')
		b = appendName(b, sur.ascii, title)
		if nth > 1 {
			b = strconv.AppendInt(b, int64(nth), 10)
		}
		local := len(b)
		if kind < 35 { // guest
			home := guestDomains[g.rng.IntN(len(guestDomains))]
			b = append(b, '@')
			b = append(b, home...)
			u.Mail = string(b)
			b[local] = '_'
			b = append(b, "#EXT#@"...)
			b = append(b, genDomain...)
			u.UserPrincipalName = string(b)
			g.buf = b
			continue
		}
		b = append(b, '@')
		b = append(b, genDomain...)
		u.UserPrincipalName = string(b)
		switch m := g.rng.IntN(100); {
		case m < 4: // no mailbox
		case m < 7: // mail on another domain than the UPN
			b = append(b[:local+1], "mail."...)
			b = append(b, genDomain...)
			u.Mail = string(b)
		default:
			u.Mail = u.UserPrincipalName
		}
		g.buf = b
	}
	return users
}

func appendName(b []byte, ascii string, title bool) []byte {
	start := len(b)
	b = append(b, ascii...)
	if title && b[start] >= 'a' && b[start] <= 'z' {
		b[start] -= 'a' - 'A'
	}
	return b
}

// name is a given name or surname: as displayed, and the ASCII form used in
// user principal names (lower case, letters only, unique within its list).
type name struct{ display, ascii string }

var givenNames = []name{
	{"Ada", "ada"}, {"Alan", "alan"}, {"Grace", "grace"}, {"Linus", "linus"}, {"Margaret", "margaret"},
	{"Edsger", "edsger"}, {"Barbara", "barbara"}, {"Donald", "donald"}, {"Frances", "frances"}, {"Ken", "ken"},
	{"Radia", "radia"}, {"Dennis", "dennis"}, {"Katherine", "katherine"}, {"John", "john"}, {"Mary", "mary"},
	{"James", "james"}, {"Patricia", "patricia"}, {"Robert", "robert"}, {"Jennifer", "jennifer"}, {"Michael", "michael"},
	{"Linda", "linda"}, {"William", "william"}, {"Elizabeth", "elizabeth"}, {"David", "david"}, {"Susan", "susan"},
	{"Richard", "richard"}, {"Jessica", "jessica"}, {"Joseph", "joseph"}, {"Sarah", "sarah"}, {"Thomas", "thomas"},
	{"Karen", "karen"}, {"Charles", "charles"}, {"Nancy", "nancy"}, {"Christopher", "christopher"}, {"Lisa", "lisa"},
	{"Daniel", "daniel"}, {"Betty", "betty"}, {"Matthew", "matthew"}, {"Sandra", "sandra"}, {"Anthony", "anthony"},
	{"Ashley", "ashley"}, {"Mark", "mark"}, {"Kimberly", "kimberly"}, {"Paul", "paul"}, {"Emily", "emily"},
	{"Steven", "steven"}, {"Donna", "donna"}, {"Andrew", "andrew"}, {"Michelle", "michelle"}, {"Joshua", "joshua"},
	{"Carol", "carol"}, {"Kevin", "kevin"}, {"Amanda", "amanda"}, {"Brian", "brian"}, {"Melissa", "melissa"},
	{"George", "george"}, {"Deborah", "deborah"}, {"Timothy", "timothy"}, {"Stephanie", "stephanie"}, {"Ronald", "ronald"},
	{"Rebecca", "rebecca"}, {"Jason", "jason"}, {"Laura", "laura"}, {"Jeffrey", "jeffrey"}, {"Helen", "helen"},
	{"Ryan", "ryan"}, {"Sharon", "sharon"}, {"Jacob", "jacob"}, {"Cynthia", "cynthia"}, {"Gary", "gary"},
	{"Kathleen", "kathleen"}, {"Nicholas", "nicholas"}, {"Amy", "amy"}, {"Eric", "eric"}, {"Angela", "angela"},
	{"Jonathan", "jonathan"}, {"Anna", "anna"}, {"Stephen", "stephen"}, {"Brenda", "brenda"}, {"Larry", "larry"},
	{"Pamela", "pamela"}, {"Justin", "justin"}, {"Emma", "emma"}, {"Scott", "scott"}, {"Nicole", "nicole"},
	{"José", "jose"}, {"María", "maria"}, {"Zoë", "zoe"}, {"Søren", "soren"}, {"Björn", "bjorn"},
	{"François", "francois"}, {"Hélène", "helene"}, {"Jürgen", "juergen"}, {"Łukasz", "lukasz"}, {"Ngozi", "ngozi"},
	{"Chidi", "chidi"}, {"Wei", "wei"}, {"Mei", "mei"}, {"Hiroshi", "hiroshi"}, {"Yuki", "yuki"},
	{"Priya", "priya"}, {"Arjun", "arjun"}, {"Fatima", "fatima"}, {"Omar", "omar"}, {"Aisha", "aisha"},
	{"Mateo", "mateo"}, {"Sofía", "sofia"}, {"Lucas", "lucas"}, {"Olivia", "olivia"}, {"Noah", "noah"},
	{"Liam", "liam"}, {"Ava", "ava"}, {"Ethan", "ethan"}, {"Mia", "mia"}, {"Ines", "ines"},
	{"Kwame", "kwame"}, {"Amara", "amara"}, {"Dmitri", "dmitri"}, {"Olga", "olga"}, {"Sven", "sven"},
	{"Ingrid", "ingrid"}, {"Mehmet", "mehmet"}, {"Elif", "elif"}, {"Thanh", "thanh"}, {"Jin", "jin"},
	{"Min-jun", "minjun"}, {"Seo-yeon", "seoyeon"}, {"Rafael", "rafael"}, {"Camila", "camila"}, {"Tomás", "tomas"},
}

var surnames = []name{
	{"Lovelace", "lovelace"}, {"Turing", "turing"}, {"Hopper", "hopper"}, {"Torvalds", "torvalds"}, {"Hamilton", "hamilton"},
	{"Dijkstra", "dijkstra"}, {"Liskov", "liskov"}, {"Knuth", "knuth"}, {"Allen", "allen"}, {"Thompson", "thompson"},
	{"Perlman", "perlman"}, {"Ritchie", "ritchie"}, {"Johnson", "johnson"}, {"Smith", "smith"}, {"Williams", "williams"},
	{"Brown", "brown"}, {"Jones", "jones"}, {"Garcia", "garcia"}, {"Miller", "miller"}, {"Davis", "davis"},
	{"Rodriguez", "rodriguez"}, {"Martinez", "martinez"}, {"Hernandez", "hernandez"}, {"Lopez", "lopez"}, {"Gonzalez", "gonzalez"},
	{"Wilson", "wilson"}, {"Anderson", "anderson"}, {"Taylor", "taylor"}, {"Moore", "moore"}, {"Jackson", "jackson"},
	{"Martin", "martin"}, {"Lee", "lee"}, {"Perez", "perez"}, {"White", "white"}, {"Harris", "harris"},
	{"Sanchez", "sanchez"}, {"Clark", "clark"}, {"Ramirez", "ramirez"}, {"Lewis", "lewis"}, {"Robinson", "robinson"},
	{"Walker", "walker"}, {"Young", "young"}, {"King", "king"}, {"Wright", "wright"}, {"Scott", "scott"},
	{"Torres", "torres"}, {"Nguyễn", "nguyen"}, {"Hill", "hill"}, {"Flores", "flores"}, {"Green", "green"},
	{"Adams", "adams"}, {"Nelson", "nelson"}, {"Baker", "baker"}, {"Hall", "hall"}, {"Rivera", "rivera"},
	{"Campbell", "campbell"}, {"Mitchell", "mitchell"}, {"Carter", "carter"}, {"Roberts", "roberts"}, {"O'Brien", "obrien"},
	{"O'Neill", "oneill"}, {"McDonald", "mcdonald"}, {"Smith-Jones", "smithjones"}, {"Müller", "mueller"}, {"Schmidt", "schmidt"},
	{"Schneider", "schneider"}, {"Fischer", "fischer"}, {"Weber", "weber"}, {"Dubois", "dubois"}, {"Lefèvre", "lefevre"},
	{"Moreau", "moreau"}, {"Rossi", "rossi"}, {"Russo", "russo"}, {"Bianchi", "bianchi"}, {"Kowalski", "kowalski"},
	{"Wiśniewski", "wisniewski"}, {"Novák", "novak"}, {"Horváth", "horvath"}, {"Jensen", "jensen"}, {"Nielsen", "nielsen"},
	{"Hansen", "hansen"}, {"Johansson", "johansson"}, {"Andersson", "andersson"}, {"Virtanen", "virtanen"}, {"Ivanov", "ivanov"},
	{"Petrov", "petrov"}, {"Yılmaz", "yilmaz"}, {"Kaya", "kaya"}, {"Cohen", "cohen"}, {"Levi", "levi"},
	{"Okafor", "okafor"}, {"Adeyemi", "adeyemi"}, {"Mensah", "mensah"}, {"Mwangi", "mwangi"}, {"Patel", "patel"},
	{"Sharma", "sharma"}, {"Singh", "singh"}, {"Kumar", "kumar"}, {"Khan", "khan"}, {"Ahmed", "ahmed"},
	{"Wang", "wang"}, {"Li", "li"}, {"Zhang", "zhang"}, {"Liu", "liu"}, {"Chen", "chen"},
	{"Yang", "yang"}, {"Huang", "huang"}, {"Tanaka", "tanaka"}, {"Suzuki", "suzuki"}, {"Sato", "sato"},
	{"Watanabe", "watanabe"}, {"Kim", "kim"}, {"Park", "park"}, {"Choi", "choi"}, {"Tran", "tran"},
	{"Silva", "silva"}, {"Santos", "santos"}, {"Oliveira", "oliveira"}, {"Pereira", "pereira"}, {"Costa", "costa"},
	{"van der Berg", "vanderberg"}, {"de Jong", "dejong"}, {"Janssen", "janssen"}, {"Peeters", "peeters"}, {"Murphy", "murphy"},
}

var guestDomains = []string{"fabrikam.example", "northwind.example", "tailspin.example", "wingtip.example", "adventure-works.example"}

var svcWords = []string{"backup", "scanner", "kiosk", "printer", "sync", "monitor", "build", "deploy", "report", "meeting-room"}

var departments = []string{"Sales", "Marketing", "Engineering", "Finance", "HR", "Legal", "Support", "Operations",
	"Research", "Security", "IT", "Procurement", "Facilities", "Product", "Design", "Data"}

var areas = []string{"EMEA", "APAC", "Americas", "Global", "Berlin", "London", "Seattle", "Tokyo", "Sydney",
	"Paris", "Contractors", "Managers", "Interns", "OnCall", "Readers", "Admins"}

var appWords = []string{"Backup Agent", "Build Robot", "HR Connector", "Monitoring Probe", "Payroll Sync",
	"Ticketing Bridge", "Reporting Job", "Deploy Pipeline", "Mail Relay", "Badge System"}
