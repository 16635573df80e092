package graph

import (
	"context"
	"errors"
	"net/url"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// The optional checks of a probe: the Graph features that make cycles
// cheaper where they are served — delta queries for incremental cycles and
// getByIds for the directly assigned users. Each is one small request; an
// answer that says "not here" is CheckOptional with what would help, never
// a failure.

// deltaProbe is one optional delta check.
type deltaProbe struct {
	name  string
	path  string // relative to the Graph base URL
	query url.Values
	ok    string // Found when served
	// grant is the fix of a refusal (403); other is the fix of any other
	// answer.
	grant, other string
}

var deltaProbes = []deltaProbe{
	{name: CheckGroupsDelta, path: "/groups/delta", query: url.Values{"$select": {"id"}, "$deltatoken": {"latest"}},
		ok:    "membership changes from groups/delta",
		grant: "grant Group.Read.All (application) to make cycles incremental",
		other: "cycles read every assigned group's members in full"},
	{name: CheckAssignmentDelta, path: "/directoryObjects/delta",
		query: url.Values{"$filter": {"isof('microsoft.graph.appRoleAssignment') or isof('microsoft.graph.user')"}, "$deltatoken": {"latest"}},
		ok:    "assignment changes from directoryObjects/delta",
		grant: "Graph refused it: incremental cycles read every assignment page instead (nothing must be granted)",
		other: "incremental cycles read every assignment page instead"},
	{name: CheckUsersDelta, path: "/users/delta", query: url.Values{"$select": {"id"}, "$deltatoken": {"latest"}},
		ok:    "user changes from users/delta",
		grant: "grant User.Read.All (application) to make cycles incremental",
		other: "cycles read every user in full"},
}

// probeOptional adds the optional checks.
func (p *prober) probeOptional(ctx context.Context, spID string) {
	for _, d := range deltaProbes {
		support, detail := p.probeDelta(ctx, d)
		switch support {
		case DeltaServed:
			p.add(d.name, CheckOK, d.ok, "")
		case DeltaRefused:
			p.add(d.name, CheckOptional, "refused ("+detail+")", d.grant)
		default:
			p.add(d.name, CheckOptional, "not served ("+detail+")", d.other)
		}
	}
	_, err := p.getByIDsChunk(ctx, []string{spID})
	switch {
	case err == nil:
		p.add(CheckGetByIDs, CheckOK, "permitted (Directory.Read.All): directly assigned users are read 1,000 to a request", "")
	case errors.Is(err, errByIDsUnusable):
		p.add(CheckGetByIDs, CheckOptional, "not usable ("+strings.TrimPrefix(err.Error(), errByIDsUnusable.Error()+": ")+")",
			"grant Directory.Read.All to read directly assigned users 1,000 to a request instead of 20 to a $batch or by listing every user "+
				"(a broad permission; never required)")
	default:
		_, gp := p.problem(err)
		p.add(CheckGetByIDs, CheckOptional, "not checked ("+gp+")", "directly assigned users are read 20 to a $batch or by listing every user")
	}
}

// probeDelta sends d's request ($deltatoken=latest: no data, only a
// deltaLink) and classifies the answer; detail says what Graph answered.
func (p *prober) probeDelta(ctx context.Context, d deltaProbe) (DeltaSupport, string) {
	u, err := url.Parse(p.adapter.GetBaseUrl() + d.path)
	if err != nil {
		return DeltaUnexpected, err.Error()
	}
	u.RawQuery = d.query.Encode()
	info := abstractions.NewRequestInformation()
	info.Method = abstractions.GET
	info.SetUri(*u)
	body, err := p.getRaw(ctx, info)
	if err == nil {
		support := ClassifyDeltaAnswer(200, body)
		if support != DeltaServed {
			return support, "HTTP 200 without a delta page"
		}
		return support, ""
	}
	_, gp := p.problem(err)
	return ClassifyDeltaError(err), gp
}
