module github.com/iechor/sso/services/provisioning

go 1.26.8

require (
	github.com/iechor/sso/gen v0.0.0
	github.com/iechor/sso/services/platform v0.0.0
)

replace (
	github.com/iechor/sso/gen => ../../gen
	github.com/iechor/sso/services/domain => ../domain
	github.com/iechor/sso/services/platform => ../platform
)
