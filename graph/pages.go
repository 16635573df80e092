package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Listings are read through the SDK's request adapter (authentication,
// retry, redirect and compression middleware all apply) but decoded into
// small structs of only the fields used, instead of the SDK's model graph:
// a page of 999 members then costs a fraction of the CPU and memory.

var odataErrorMapping = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// page is one page of a Graph collection.
type page[T any] struct {
	Value    *[]T   `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// getRaw sends info and returns the response body; a Graph error comes back
// as *odataerrors.ODataError.
func (s *Source) getRaw(ctx context.Context, info *abstractions.RequestInformation) ([]byte, error) {
	info.Headers.TryAdd("Accept", "application/json")
	res, err := s.adapter.SendPrimitive(ctx, info, "[]byte", odataErrorMapping)
	if err != nil {
		return nil, err
	}
	body, _ := res.([]byte)
	return body, nil
}

// listAll reads every page of the collection first names, decoding each
// page's items with fn; what names the listing in errors ("members of group
// X"). The next link is followed as given (it is absolute).
// fn learns whether more pages follow.
func listAll[T any](ctx context.Context, s *Source, first *abstractions.RequestInformation, what string, fn func(n int, items []T, more bool) error) error {
	return listFrom(ctx, s, first, 1, what, fn)
}

// listFrom is listAll from page n on: info is that page's request (a next
// link when n > 1).
func listFrom[T any](ctx context.Context, s *Source, info *abstractions.RequestInformation, n int, what string, fn func(n int, items []T, more bool) error) error {
	for ; ; n++ {
		where := fmt.Sprintf("%s, page %d", what, n)
		body, err := s.getRaw(ctx, info)
		if err != nil {
			return readError(where, err)
		}
		var p page[T]
		if err := json.Unmarshal(body, &p); err != nil {
			return malformed(where, err.Error())
		}
		if p.Value == nil {
			return malformed(where, "page has no value array")
		}
		if err := fn(n, *p.Value, p.NextLink != ""); err != nil {
			return err
		}
		if p.NextLink == "" {
			return nil
		}
		if info, err = nextRequest(where, p.NextLink); err != nil {
			return err
		}
	}
}

// nextRequest is the request of a page's @odata.nextLink, which must be an
// absolute URL.
func nextRequest(where, link string) (*abstractions.RequestInformation, error) {
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() {
		return nil, malformed(where, fmt.Sprintf("@odata.nextLink %q is not an absolute URL", clipped(withoutQueryString(link))))
	}
	info := abstractions.NewRequestInformation()
	info.Method = abstractions.GET
	info.SetUri(*u)
	return info, nil
}
