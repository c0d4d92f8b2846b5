#!/usr/bin/env bash
# buf breaking against the previous commit: a change of proto/ that breaks the wire, the JSON or the
# generated code of a package (buf.yaml: PACKAGE, which also catches a deleted RPC) fails make lint.
# BUF_BREAKING_AGAINST names another baseline (a branch, a tag, main); the default is HEAD~1, the
# previous commit of main once a change is merged.
#
# The baseline is taken from git (git archive), beside the googleapis protos that make fetches into
# .tools/ (they are not in the repository). A baseline from before issue 10, which split each
# service's internal RPCs into an ...InternalService and declared every RPC's callers
# (proto/iechor/sso/options/v1/options.proto), had no wire to keep: nothing outside this repository
# called it. The check says so and passes; that is the commit of the split, and the merge that
# brings it to main. From the next commit on, every change is compared.
set -euo pipefail
cd "$(dirname "$0")/.."
buf=${BUF:-.tools/npm/node_modules/.bin/buf}
against=${BUF_BREAKING_AGAINST:-HEAD~1}

if ! git rev-parse --verify --quiet "$against^{commit}" >/dev/null; then
	if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
		echo "buf breaking: $against is not in this shallow clone; fetch more history (git fetch --deepen=1)" >&2
		exit 1
	fi
	echo "buf breaking: there is no $against to compare with"
	exit 0
fi
if ! git cat-file -e "$against:proto/iechor/sso/options/v1/options.proto" 2>/dev/null; then
	echo "buf breaking: $against predates the internal services and their declared callers (issue 10): nothing to compare"
	exit 0
fi
baseline=$(mktemp -d)
trap 'rm -rf "$baseline"' EXIT
git archive "$against" buf.yaml proto | tar -x -C "$baseline"
mkdir -p "$baseline/.tools"
cp -r .tools/googleapis "$baseline/.tools/"
"$buf" breaking . --against "$baseline"
echo "buf breaking: proto/ keeps the wire of $against"
