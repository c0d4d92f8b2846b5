package domainname

// freeEmailProviders are domains where anybody can open a mailbox. No company owns them, so none may
// be verified for SSO: verifying gmail.com would route every Gmail user to one company's IdP.
var freeEmailProviders = map[string]bool{
	"aol.com":        true,
	"fastmail.com":   true,
	"gmail.com":      true,
	"gmx.com":        true,
	"gmx.de":         true,
	"gmx.net":        true,
	"googlemail.com": true,
	"hey.com":        true,
	"hotmail.co.uk":  true,
	"hotmail.com":    true,
	"hotmail.de":     true,
	"hotmail.fr":     true,
	"icloud.com":     true,
	"live.com":       true,
	"mac.com":        true,
	"mail.com":       true,
	"mail.ru":        true,
	"me.com":         true,
	"msn.com":        true,
	"naver.com":      true,
	"outlook.com":    true,
	"outlook.fr":     true,
	"pm.me":          true,
	"proton.me":      true,
	"protonmail.ch":  true,
	"protonmail.com": true,
	"qq.com":         true,
	"rambler.ru":     true,
	"tutanota.com":   true,
	"web.de":         true,
	"yahoo.co.jp":    true,
	"yahoo.co.uk":    true,
	"yahoo.com":      true,
	"yahoo.fr":       true,
	"yandex.com":     true,
	"yandex.ru":      true,
	"ymail.com":      true,
	"zoho.com":       true,
	"163.com":        true,
	"126.com":        true,
}

// IsFreeEmailProvider reports whether a normalized domain belongs to a free email provider.
func IsFreeEmailProvider(domain string) bool { return freeEmailProviders[domain] }
