# vigil's build and test entry points. `make test` is what CI runs; it
# installs what the tests need first (`make setup`), so a fresh Debian 12
# machine needs nothing but a Rust toolchain and root.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

CARGO ?= cargo
# Debian packages the demo and the tests need: a C toolchain for the test
# programs, busybox-static for root file systems, runc as the reference
# runtime, debootstrap for the Debian root file system, and the real clients
# the integration tests and the demo drive vigil with: podman (with its
# monitor, conmon), containerd (ctr and the runc shim) and Docker. The CRI
# tests talk to containerd with a Python gRPC client (python3-grpcio,
# python3-protobuf) and give pods a network with Debian's loopback CNI
# plugin (containernetworking-plugins) and `ip` (iproute2).
APT_PACKAGES := build-essential pkg-config runc busybox-static debootstrap \
	podman conmon containerd docker.io \
	python3-grpcio python3-protobuf containernetworking-plugins iproute2
# How long `make fuzz` lets libFuzzer run.
FUZZ_SECONDS ?= 60

.PHONY: setup demo test fmt clippy unit bench fuzz

setup:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq; \
		apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# The toolchain is the machine's own: check for its components, never
	@# download one.
	@$(CARGO) fmt --version >/dev/null 2>&1 \
		|| { echo "setup: rustfmt is missing from the Rust toolchain" >&2; exit 1; }
	@$(CARGO) clippy --version >/dev/null 2>&1 \
		|| { echo "setup: clippy is missing from the Rust toolchain" >&2; exit 1; }
	@echo "setup: ok ($$($(CARGO) --version))"

# The main job: build vigil, its containerd shim and a busybox image, and
# have containerd run a short shell session in a vigil sandbox.
demo: setup
	$(CARGO) build --release -p runtime -p shim
	scripts/demo.sh

fmt:
	$(CARGO) fmt --all --check
	@# The fuzz crate is outside the workspace; check its files directly.
	rustfmt --edition 2021 --check fuzz/fuzz_targets/*.rs fuzz/src/bin/*.rs

clippy:
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

# Doc tests first: nextest does not run them, and the runner's summary
# should be the last thing printed.
unit:
	$(CARGO) test --workspace --all-features --doc
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		echo "$(CARGO) nextest run --workspace --all-features --no-fail-fast"; \
		$(CARGO) nextest run --workspace --all-features --no-fail-fast; \
	else \
		echo "$(CARGO) test --workspace --all-features --no-fail-fast"; \
		$(CARGO) test --workspace --all-features --no-fail-fast; \
	fi

test: setup
	$(MAKE) --no-print-directory fmt
	$(MAKE) --no-print-directory clippy
	$(MAKE) --no-print-directory unit

# The benchmarks (plain timing binaries, not run by tests): lisafs round
# trips, then runc, vigil and runsc (if installed) side by side on the same
# container workloads, and on `podman run` and `ctr run` end to end (needs
# root).
bench: setup
	$(CARGO) bench -p gofer --bench lisafs
	$(CARGO) bench -p integration --bench sandbox
	$(CARGO) bench -p integration --bench clients

# Coverage-guided fuzzing of the lisafs decoders. cargo-fuzz needs nightly
# features; RUSTC_BOOTSTRAP lets the stable toolchain provide them. Without
# cargo-fuzz, the same property runs under proptest instead.
fuzz: setup
	@if $(CARGO) fuzz --version >/dev/null 2>&1; then \
		cd fuzz; \
		if [ -z "$$(ls -A corpus/decode 2>/dev/null)" ]; then \
			$(CARGO) run -q --bin seed-corpus -- corpus/decode; \
		fi; \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run decode corpus/decode -- \
			-max_total_time=$(FUZZ_SECONDS); \
	else \
		echo "fuzz: cargo-fuzz is not installed (cargo install cargo-fuzz);"; \
		echo "fuzz: running the decode property under proptest instead"; \
		PROPTEST_CASES=100000 $(CARGO) test -p lisafs --release --test fuzz_decode; \
	fi
