package graph

import (
	"bytes"
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
	return listPages(ctx, s, info, n, what, false, fn)
}

// listAhead is listAll with the next page's request sent before this
// page is decoded: a serial listing (the application's assignments, 61
// pages of 999 in a large tenant) then spends its decoding under the next
// round trip instead of after it.
func listAhead[T any](ctx context.Context, s *Source, first *abstractions.RequestInformation, what string, fn func(n int, items []T, more bool) error) error {
	return listPages(ctx, s, first, 1, what, true, fn)
}

// fetched is a page's response, read ahead.
type fetched struct {
	body []byte
	err  error
}

// ahead is a page requested before the one before it was decoded.
type ahead struct {
	link   string
	done   chan fetched
	cancel context.CancelFunc
}

// drop abandons the request and waits for it: nothing of a listing
// outlives it.
func (a *ahead) drop() {
	if a != nil {
		a.cancel()
		<-a.done
	}
}

func listPages[T any](ctx context.Context, s *Source, info *abstractions.RequestInformation, n int, what string, readAhead bool, fn func(n int, items []T, more bool) error) error {
	var next *ahead
	defer func() { next.drop() }()
	link := "" // the link info was made from (pages after the first)
	for ; ; n++ {
		where := fmt.Sprintf("%s, page %d", what, n)
		var body []byte
		var err error
		if next != nil && next.link == link {
			r := <-next.done
			next.cancel()
			next, body, err = nil, r.body, r.err
		} else {
			next.drop()
			next = nil
			body, err = s.getRaw(ctx, info)
		}
		if err != nil {
			return readError(where, err)
		}
		if readAhead {
			// The next link as the page seems to give it, taken without
			// decoding the page: what the page really says is checked
			// below, and a guess that was wrong is dropped.
			if l, ok := peekNextLink(body); ok {
				if req, err := nextRequest(where, l); err == nil {
					next = s.fetchAhead(ctx, l, req)
				}
			}
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
		link = p.NextLink
	}
}

// fetchAhead sends req (of link) now and gives its response later.
func (s *Source) fetchAhead(ctx context.Context, link string, req *abstractions.RequestInformation) *ahead {
	ctx, cancel := context.WithCancel(ctx)
	a := &ahead{link: link, done: make(chan fetched, 1), cancel: cancel}
	go func() {
		body, err := s.getRaw(ctx, req)
		a.done <- fetched{body, err}
	}()
	return a
}

// peekNextLink finds a page's "@odata.nextLink" without decoding the page:
// the first member of that name, wherever it is. It is a guess (an item
// could hold a member of that name); the decoded page decides.
func peekNextLink(body []byte) (string, bool) {
	const key = `"@odata.nextLink"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return "", false
	}
	rest := bytes.TrimLeft(body[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return "", false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return "", false
	}
	end := 1
	for end < len(rest) && rest[end] != '"' {
		if rest[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(rest) {
		return "", false
	}
	var link string
	if err := json.Unmarshal(rest[:end+1], &link); err != nil || link == "" {
		return "", false
	}
	return link, true
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
