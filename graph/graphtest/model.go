package graphtest

import (
	"strings"
	"time"
)

// propSet describes the properties Graph knows for one entity type: which
// are returned without $select (in Graph's order) and which can be selected.
// Selectable properties the simulator does not model are returned as null (or
// an empty array for collections), as Graph does for unset properties.
type propSet struct {
	typeName  string            // e.g. "microsoft.graph.user"
	defaults  []string          // returned without $select, in order
	known     map[string]string // lower-cased name -> canonical name
	canonical map[string]bool   // the canonical names (render takes them as they are)
	arrays    map[string]bool   // collection-valued properties
}

func newPropSet(typeName string, defaults, extras, arrays []string) *propSet {
	p := &propSet{typeName: typeName, defaults: defaults, known: map[string]string{}, canonical: map[string]bool{}, arrays: map[string]bool{}}
	for _, n := range defaults {
		p.known[strings.ToLower(n)] = n
	}
	for _, n := range extras {
		p.known[strings.ToLower(n)] = n
	}
	for _, n := range arrays {
		if _, ok := p.known[strings.ToLower(n)]; !ok {
			p.known[strings.ToLower(n)] = n
		}
		p.arrays[n] = true
	}
	for _, c := range p.known {
		p.canonical[c] = true
	}
	return p
}

func (p *propSet) unset(name string) any {
	if p.arrays[name] {
		return []string{}
	}
	return nil
}

var userProps = newPropSet("microsoft.graph.user",
	[]string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
		"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"},
	[]string{"aboutMe", "accountEnabled", "ageGroup", "birthday", "city", "companyName",
		"consentProvidedForMinor", "country", "createdDateTime", "creationType", "customSecurityAttributes",
		"deletedDateTime", "department", "employeeHireDate", "employeeLeaveDateTime", "employeeId",
		"employeeOrgData", "employeeType", "externalUserState", "externalUserStateChangeDateTime",
		"faxNumber", "hireDate", "isManagementRestricted", "isResourceAccount", "lastPasswordChangeDateTime",
		"legalAgeGroupClassification", "mailNickname", "mySite", "onPremisesDistinguishedName",
		"onPremisesDomainName", "onPremisesExtensionAttributes", "onPremisesImmutableId",
		"onPremisesLastSyncDateTime", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
		"onPremisesSyncEnabled", "onPremisesUserPrincipalName", "passwordPolicies", "passwordProfile",
		"postalCode", "preferredDataLocation", "preferredName", "securityIdentifier", "showInAddressList",
		"signInActivity", "signInSessionsValidFromDateTime", "state", "streetAddress", "usageLocation",
		"userType"},
	[]string{"businessPhones", "assignedLicenses", "assignedPlans", "identities", "imAddresses", "interests",
		"licenseAssignmentStates", "onPremisesProvisioningErrors", "otherMails", "pastProjects",
		"provisionedPlans", "proxyAddresses", "responsibilities", "schools", "serviceProvisioningErrors",
		"skills"},
)

var groupProps = newPropSet("microsoft.graph.group",
	[]string{"id", "deletedDateTime", "classification", "createdDateTime", "creationOptions",
		"description", "displayName", "expirationDateTime", "groupTypes", "isAssignableToRole", "mail",
		"mailEnabled", "mailNickname", "membershipRule", "membershipRuleProcessingState",
		"onPremisesDomainName", "onPremisesLastSyncDateTime", "onPremisesNetBiosName",
		"onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
		"preferredDataLocation", "preferredLanguage", "proxyAddresses", "renewedDateTime",
		"resourceBehaviorOptions", "resourceProvisioningOptions", "securityEnabled",
		"securityIdentifier", "theme", "uniqueName", "visibility", "onPremisesProvisioningErrors",
		"serviceProvisioningErrors"},
	[]string{"allowExternalSenders", "autoSubscribeNewMembers", "hasMembersWithLicenseErrors",
		"hideFromAddressLists", "hideFromOutlookClients", "isSubscribedByMail", "licenseProcessingState",
		"unseenCount"},
	[]string{"assignedLabels", "assignedLicenses", "creationOptions", "groupTypes", "proxyAddresses",
		"resourceBehaviorOptions", "resourceProvisioningOptions", "onPremisesProvisioningErrors",
		"serviceProvisioningErrors"},
)

var spProps = newPropSet("microsoft.graph.servicePrincipal",
	[]string{"id", "deletedDateTime", "accountEnabled", "alternativeNames", "appDisplayName",
		"appDescription", "appId", "applicationTemplateId", "appOwnerOrganizationId",
		"appRoleAssignmentRequired", "description", "disabledByMicrosoftStatus", "displayName",
		"homepage", "loginUrl", "logoutUrl", "notes", "notificationEmailAddresses",
		"preferredSingleSignOnMode", "preferredTokenSigningKeyThumbprint", "replyUrls",
		"servicePrincipalNames", "servicePrincipalType", "signInAudience", "tags",
		"tokenEncryptionKeyId", "samlSingleSignOnSettings", "addIns", "appRoles", "info",
		"keyCredentials", "oauth2PermissionScopes", "passwordCredentials",
		"resourceSpecificApplicationPermissions", "verifiedPublisher"},
	[]string{"customSecurityAttributes"},
	[]string{"alternativeNames", "notificationEmailAddresses", "replyUrls", "servicePrincipalNames",
		"tags", "addIns", "appRoles", "keyCredentials", "oauth2PermissionScopes", "passwordCredentials",
		"resourceSpecificApplicationPermissions"},
)

var assignmentProps = newPropSet("microsoft.graph.appRoleAssignment",
	[]string{"id", "deletedDateTime", "appRoleId", "createdDateTime", "principalDisplayName",
		"principalId", "principalType", "resourceDisplayName", "resourceId"},
	nil, nil,
)

func (s *Server) timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (s *Server) userValue(u *User, p string) any {
	switch p {
	case "id":
		return u.ID
	case "userPrincipalName":
		return u.UserPrincipalName
	case "displayName":
		return strOrNull(u.DisplayName)
	case "givenName":
		return strOrNull(u.GivenName)
	case "surname":
		return strOrNull(u.Surname)
	case "mail":
		return strOrNull(u.Mail)
	case "accountEnabled":
		return u.AccountEnabled
	case "createdDateTime":
		return s.timestamp(s.started)
	case "userType":
		if strings.Contains(strings.ToUpper(u.UserPrincipalName), "#EXT#") {
			return "Guest"
		}
		return "Member"
	case "mailNickname":
		local, _, _ := strings.Cut(u.UserPrincipalName, "@")
		return strOrNull(local)
	case "proxyAddresses":
		if u.Mail == "" {
			return []string{}
		}
		return []string{"SMTP:" + u.Mail}
	}
	return userProps.unset(p)
}

func (s *Server) groupValue(g *Group, p string) any {
	switch p {
	case "id":
		return g.ID
	case "displayName":
		return strOrNull(g.DisplayName)
	case "securityEnabled":
		return g.SecurityEnabled
	case "mailEnabled":
		return g.MailEnabled
	case "groupTypes":
		return strs(g.GroupTypes)
	case "mailNickname":
		return groupNickname(g)
	case "createdDateTime", "renewedDateTime":
		return s.timestamp(s.started)
	case "visibility":
		for _, t := range g.GroupTypes {
			if strings.EqualFold(t, "Unified") {
				return "Private"
			}
		}
		return nil
	}
	return groupProps.unset(p)
}

func groupNickname(g *Group) string {
	var b strings.Builder
	for _, r := range g.DisplayName {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		id := g.ID
		if len(id) > 8 {
			id = id[:8]
		}
		return "group-" + id
	}
	return b.String()
}

func (s *Server) spValue(sp *ServicePrincipal, isApp bool, p string) any {
	switch p {
	case "id":
		return sp.ID
	case "appId":
		return sp.AppID
	case "displayName", "appDisplayName":
		return strOrNull(sp.DisplayName)
	case "accountEnabled":
		return true
	case "appOwnerOrganizationId":
		return strOrNull(s.tenant.TenantID)
	case "appRoleAssignmentRequired":
		return isApp
	case "servicePrincipalNames":
		return []string{sp.AppID}
	case "servicePrincipalType":
		return "Application"
	case "signInAudience":
		return "AzureADMyOrg"
	case "tags":
		if isApp {
			return []string{"WindowsAzureActiveDirectoryIntegratedApp"}
		}
		return []string{}
	}
	return spProps.unset(p)
}

// principal describes the principal of an assignment. Callers hold s.mu.
func (s *Server) principal(id string) (typ, name string, ok bool) {
	r, ok := s.lookup(id)
	if !ok {
		return "", "", false
	}
	switch r.kind {
	case kindUser:
		return "User", s.tenant.Users[r.i].DisplayName, true
	case kindGroup:
		return "Group", s.tenant.Groups[r.i].DisplayName, true
	default:
		return "ServicePrincipal", s.sp(r).DisplayName, true
	}
}

func (s *Server) assignmentValue(a *Assignment, p string) any {
	typ, name, _ := s.principal(a.PrincipalID)
	switch p {
	case "id":
		return a.ID
	case "appRoleId":
		return a.AppRoleID
	case "createdDateTime":
		if t, ok := s.created[a.ID]; ok {
			return s.timestamp(t)
		}
		return s.timestamp(s.started)
	case "principalDisplayName":
		return strOrNull(name)
	case "principalId":
		return a.PrincipalID
	case "principalType":
		return typ
	case "resourceDisplayName":
		return strOrNull(s.tenant.Application.DisplayName)
	case "resourceId":
		return s.tenant.Application.ID
	}
	return nil
}

// render builds the JSON object of one entity with the selected properties
// (the default set when sel is nil). odataType, when set, is written first as
// "@odata.type". Selected properties the entity type does not know are
// skipped (this happens in directoryObject collections).
func render(ps *propSet, sel []string, odataType string, value func(string) any) object {
	names := sel
	if names == nil {
		names = ps.defaults
	}
	o := make(object, 0, len(names)+1)
	if odataType != "" {
		o = append(o, kv{"@odata.type", odataType})
	}
	for _, n := range names {
		c, ok := n, ps.canonical[n] // names from selection are canonical already
		if !ok {
			c, ok = ps.known[strings.ToLower(n)]
		}
		if !ok {
			continue
		}
		o = append(o, kv{c, value(c)})
	}
	return o
}

// directoryObject renders the object r refers to as a member of a
// directoryObject collection. Callers hold s.mu.
func (s *Server) directoryObject(r ref, sel []string) object {
	switch r.kind {
	case kindUser:
		u := &s.tenant.Users[r.i]
		return render(userProps, sel, "#microsoft.graph.user", func(p string) any { return s.userValue(u, p) })
	case kindGroup:
		g := &s.tenant.Groups[r.i]
		return render(groupProps, sel, "#microsoft.graph.group", func(p string) any { return s.groupValue(g, p) })
	default:
		sp := s.sp(r)
		isApp := r.kind == kindApp
		return render(spProps, sel, "#microsoft.graph.servicePrincipal", func(p string) any { return s.spValue(sp, isApp, p) })
	}
}
