package graph

import (
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/entrasync/entrasync/sync"
)

// The shapes Graph answers in, decoded into only the fields used, and the
// conversions to sync's types.

// wireUser and wireGroup are a user and a group as a listing page or a
// $batch item carries them: only the fields used.
type wireUser struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
	DisplayName       string `json:"displayName"`
	GivenName         string `json:"givenName"`
	Surname           string `json:"surname"`
	AccountEnabled    *bool  `json:"accountEnabled"`
}

func (u wireUser) entraUser() sync.EntraUser {
	return sync.EntraUser{ID: u.ID, UserPrincipalName: u.UserPrincipalName, Mail: u.Mail, DisplayName: u.DisplayName,
		GivenName: u.GivenName, Surname: u.Surname, AccountEnabled: boolean(u.AccountEnabled)}
}

func (u wireUser) objectID() string { return u.ID }

type wireGroup struct {
	ID              string   `json:"id"`
	DisplayName     string   `json:"displayName"`
	SecurityEnabled *bool    `json:"securityEnabled"`
	MailEnabled     *bool    `json:"mailEnabled"`
	GroupTypes      []string `json:"groupTypes"`
}

func (g wireGroup) objectID() string { return g.ID }

// wireMember is a directory object in a members page.
type wireMember struct {
	Type string `json:"@odata.type"`
	wireUser
}

// wireAssignment is an appRoleAssignment.
type wireAssignment struct {
	ID                   string `json:"id"`
	PrincipalID          string `json:"principalId"`
	PrincipalType        string `json:"principalType"`
	PrincipalDisplayName string `json:"principalDisplayName"`
}

func entraUser(u models.Userable) sync.EntraUser {
	return sync.EntraUser{
		ID:                str(u.GetId()),
		UserPrincipalName: str(u.GetUserPrincipalName()),
		Mail:              str(u.GetMail()),
		DisplayName:       str(u.GetDisplayName()),
		GivenName:         str(u.GetGivenName()),
		Surname:           str(u.GetSurname()),
		AccountEnabled:    boolean(u.GetAccountEnabled()),
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func boolean(p *bool) bool { return p != nil && *p }
