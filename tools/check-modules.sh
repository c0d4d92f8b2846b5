#!/usr/bin/env bash
# Every module of the workspace stands on its own: it builds and vets without go.work, its go.mod
# and go.sum are tidy, and every dependency is required at one version across the workspace (the
# version go.work selects), so that no module is tested against one version and shipped with another.
set -euo pipefail
cd "$(dirname "$0")/.."

modules=$(go work edit -json | python3 -c 'import json,sys; [print(u["DiskPath"]) for u in json.load(sys.stdin)["Use"]]')
failed=0
for m in $modules; do
	if ! (cd "$m" && GOWORK=off go mod tidy -diff >/dev/null 2>&1); then
		echo "$m: go.mod or go.sum is not tidy (run: cd $m && GOWORK=off go mod tidy)"
		failed=1
	fi
	if [ "$m" != "./tools" ] && ! (cd "$m" && GOWORK=off go build ./... && GOWORK=off go vet ./...); then
		echo "$m: does not build or vet on its own (GOWORK=off)"
		failed=1
	fi
done

# One version per dependency: what each go.mod requires against what the workspace selects.
selected=$(go list -m -f '{{if not .Main}}{{.Path}} {{.Version}}{{end}}' all)
for m in $modules; do
	while read -r dep ver; do
		want=$(awk -v d="$dep" '$1 == d {print $2}' <<<"$selected")
		if [ -n "$want" ] && [ "$want" != "$ver" ]; then
			echo "$m: requires $dep $ver; the workspace selects $want"
			failed=1
		fi
	done < <(cd "$m" && go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Require") or []:
    if not r["Path"].startswith("github.com/iechor/"):
        print(r["Path"], r["Version"])')
done
exit $failed
