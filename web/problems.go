package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tether-id/tether/core"
)

// problem is an error as the pages show it: a translated text, with
// arguments, and an optional untranslated detail from the provider.
type problem struct {
	Key    string
	Args   []any
	Detail string
	Status int
}

// problemKeys maps each core code to the key of its text and the HTTP
// status of the page that shows it. Codes with several texts are refined
// in problemFor.
var problemKeys = map[core.Code]struct {
	key    string
	status int
}{
	core.CodeInvalid:           {"err_invalid", http.StatusBadRequest},
	core.CodeUnauthenticated:   {"err_unauthenticated", http.StatusUnauthorized},
	core.CodeForbidden:         {"err_forbidden", http.StatusForbidden},
	core.CodeNotFound:          {"err_not_found", http.StatusNotFound},
	core.CodeBanned:            {"err_banned", http.StatusForbidden},
	core.CodeInactive:          {"err_inactive", http.StatusForbidden},
	core.CodeDisabled:          {"err_disabled", http.StatusNotFound},
	core.CodeInvalidCredential: {"err_invalid_credential", http.StatusBadRequest},
	core.CodeFlowNotFound:      {"err_flow_expired", http.StatusBadRequest},
	core.CodeEmailTaken:        {"err_email_taken", http.StatusConflict},
	core.CodeProviderLinked:    {"err_provider_linked", http.StatusConflict},
	core.CodeIdentityTaken:     {"err_identity_taken", http.StatusConflict},
	core.CodeIdentityNotLinked: {"err_identity_not_linked", http.StatusForbidden},
	core.CodeWrongPassword:     {"err_wrong_password", http.StatusUnauthorized},
	core.CodeLastSignInMethod:  {"err_last_sign_in_method", http.StatusConflict},
	core.CodeRateLimited:       {"err_rate_limited", http.StatusTooManyRequests},
	core.CodeInternal:          {"err_internal", http.StatusInternalServerError},
	core.CodeTokenSigning:      {"err_internal", http.StatusInternalServerError},
	core.CodeUpstream:          {"err_upstream", http.StatusBadGateway},
	// The OpenID Provider's codes reach a page only when an app's
	// request cannot go back to the app.
	core.CodeInvalidGrant:    {"err_app_request_expired", http.StatusBadRequest},
	core.CodeInvalidClient:   {"err_unknown_app", http.StatusBadRequest},
	core.CodeLoginRequired:   {"err_unauthenticated", http.StatusUnauthorized},
	core.CodeConsentRequired: {"err_forbidden", http.StatusForbidden},
	core.CodeAccessDenied:    {"err_forbidden", http.StatusForbidden},
	core.CodeLinkInvalid:     {"err_link_unknown", http.StatusBadRequest},
	core.CodeEmailUnverified: {"err_email_unverified", http.StatusForbidden},
	core.CodeReauthRequired:  {"err_reauth_required", http.StatusUnauthorized},
}

// reasonProblems tells apart the reasons the core gives under one code
// (a refused flow is always CodeFlowNotFound), by core.Error.Reason.
var reasonProblems = map[string]string{
	core.ErrFlowOtherBrowser.Reason:  "err_flow_other_browser",
	core.ErrFlowOtherProvider.Reason: "err_flow_other_provider",
	core.ErrFlowOtherAccount.Reason:  "err_flow_other_account",
	core.ErrFlowWrongPurpose.Reason:  "err_flow_expired",
	core.ErrProviderDisabled.Reason:  "err_disabled",
	core.ErrSignUpDisabled.Reason:    "err_signup_disabled",
	core.ErrMailDisabled.Reason:      "err_mail_disabled",
	// Email links (CodeLinkInvalid).
	core.ErrLinkNotFound.Reason:        "err_link_unknown",
	core.ErrLinkExpired.Reason:         "err_link_expired",
	core.ErrLinkUsed.Reason:            "err_link_used",
	core.ErrLinkOtherAddress.Reason:    "err_link_other_address",
	core.ErrLinkPasswordChanged.Reason: "err_link_password_changed",
}

// problemFor turns an error of the core into what the page shows. name is
// the provider concerned, for texts that name it ("" when none is).
func problemFor(err error, name string) problem {
	if errors.Is(err, errCSRF) {
		return problem{Key: "err_csrf", Status: http.StatusForbidden}
	}
	code := core.ErrorCode(err)
	k, ok := problemKeys[code]
	if !ok {
		k = problemKeys[core.CodeInternal]
	}
	p := problem{Key: k.key, Status: k.status}
	var ce *core.Error
	errors.As(err, &ce)
	switch code {
	case core.CodeFlowNotFound, core.CodeDisabled, core.CodeLinkInvalid:
		if ce != nil {
			if key, ok := reasonProblems[ce.Reason]; ok {
				p.Key = key
			}
		}
	case core.CodeInvalid:
		p = invalidProblem(ce)
	case core.CodeInvalidCredential, core.CodeUpstream:
		// The provider's own words help whoever debugs the setup; they
		// are in English and shown apart, as a detail.
		if ce != nil && ce.Message != "" && ce != core.ErrInvalidToken {
			p.Detail = ce.Message
		}
	case core.CodeLastSignInMethod:
		if name != "" {
			p.Key, p.Args = "err_last_sign_in_method_named", []any{name}
		}
	}
	return p
}

func invalidProblem(ce *core.Error) problem {
	p := problem{Key: "err_invalid", Status: http.StatusBadRequest}
	if ce == nil {
		return p
	}
	empty := strings.Contains(ce.Message, "cannot be empty")
	switch ce.Field {
	case "email":
		p.Key = "err_invalid_email"
		if empty {
			p.Key = "err_email_empty"
		}
	case "password":
		p.Key, p.Args = "err_password_length", []any{core.MinPasswordLen, core.MaxPasswordLen}
		if empty {
			p.Key, p.Args = "err_password_empty", nil
		}
	case "code", "session_id":
		p.Key = "err_bad_callback"
	}
	return p
}
