package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// POST /v1.0/directoryObjects/getByIds: the directory objects of a list of
// ids. Documented (v1.0 directoryobject-getbyids): a body of "ids" (at most
// 1,000 GUID strings) and "types" (resource types to search, any type
// derived from directoryObject, case-insensitive; default all); the answer
// is a directoryObject collection, each with its "@odata.type"; "only a
// subset of user properties are returned by default in v1.0" (users: the
// default property set, without accountEnabled); Directory.Read.All only.
// The throttling table prices it at 5 resource units, 2 with $select, so
// $select is honoured here. Modelled by assumption: ids Graph does not know
// are left out of the answer; the order is that of ids, each object once;
// no paging; the error codes and messages of the 400s.

// getByIDsKey is the endpoint of getByIds.
const getByIDsKey = "POST /v1.0/directoryObjects/getByIds"

// maxGetByIDs is Graph's limit of ids in one getByIds request.
const maxGetByIDs = 1000

// getByIDsTypes maps the types getByIds accepts (lower-cased) to the kinds
// they search; directoryObject searches them all.
var getByIDsTypes = map[string][]int{
	"directoryobject":  {kindUser, kindGroup, kindSP, kindApp},
	"user":             {kindUser},
	"group":            {kindGroup},
	"serviceprincipal": {kindSP, kindApp},
	"device":           nil, // not simulated: nothing is found
	"application":      nil,
	"orgcontact":       nil,
}

type getByIDsBody struct {
	IDs   *[]string `json:"ids"`
	Types []string  `json:"types"`
}

func (s *Server) getByIDs(g *greq, _ *route) *gresp {
	var body getByIDsBody
	if err := json.Unmarshal(g.body, &body); err != nil || body.IDs == nil {
		return s.gerr(g, http.StatusBadRequest, "Request_BadRequest", "The request body must be a JSON object with an 'ids' collection.")
	}
	ids := *body.IDs
	if len(ids) == 0 {
		return s.gerr(g, http.StatusBadRequest, "Request_BadRequest", "The 'ids' collection must not be empty.")
	}
	if len(ids) > maxGetByIDs {
		return s.gerr(g, http.StatusBadRequest, "Request_BadRequest",
			fmt.Sprintf("Too many ids: %d were given, at most %d are allowed.", len(ids), maxGetByIDs))
	}
	for _, id := range ids {
		if !guidRE.MatchString(id) {
			return s.gerr(g, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid object identifier '%s'.", id))
		}
	}
	kinds := map[int]bool{}
	if len(body.Types) == 0 {
		body.Types = []string{"directoryObject"}
	}
	for _, t := range body.Types {
		ks, ok := getByIDsTypes[strings.ToLower(strings.TrimPrefix(strings.TrimSpace(t), "microsoft.graph."))]
		if !ok {
			return s.gerr(g, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid type '%s' in 'types'.", t))
		}
		for _, k := range ks {
			kinds[k] = true
		}
	}
	sel, errResp := s.selection(g, "microsoft.graph.directoryObject", userProps, groupProps, spProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := make(map[string]bool, len(ids))
	values := make([]object, 0, len(ids))
	for _, id := range ids {
		key := strings.ToLower(id)
		if seen[key] {
			continue
		}
		seen[key] = true
		if r, ok := s.lookup(id); ok && kinds[r.kind] {
			values = append(values, s.directoryObject(r, sel))
		}
	}
	return s.gjson(g, http.StatusOK, object{{"@odata.context", s.contextURL("directoryObjects", sel, false)}, {"value", values}})
}
