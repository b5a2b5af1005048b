# Convenience targets; the scripts are the source of truth (see README).
.PHONY: dev test stop lint bench bench-release bench-cold-start bench-panic import-sample
dev:  ## start the local stack, create the table, load the sample campaign
	./scripts/dev.sh
test: ## the full test suite (what CI runs)
	./scripts/test.sh
import-sample: ## import the sample member dump config/members/sample-members.tsv into the local stack (referral-import)
	./scripts/import-sample.sh
stop: ## stop the local stack
	./scripts/stack.sh stop
lint: ## rustfmt, clippy, cfn-lint
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	.tools/venv/bin/cfn-lint infra/template.yaml
bench: ## consumer (rules off/on), payout and HTTP API throughput/latency, round trips, memory; share-link latency, writes per click, clicks/s on one code; member import vs its ceiling -> bench/reports/{consumers,rules,payout,http,links,import}.md
	./scripts/bench.sh
bench-release: ## release-profile size/build-time comparison (~10 min) -> bench/reports/release-profile.md
	./bench/release-profile.sh
bench-cold-start: ## share-link vs app-api: release size and cold start (~10 min) -> bench/reports/cold-start.md
	./bench/cold-start.sh
bench-panic: ## panic=unwind vs abort: release size and cold start of app-api and reward-payout (~30 min) -> bench/reports/panic-strategy.md
	./bench/panic-strategy.sh
