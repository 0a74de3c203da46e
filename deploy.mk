# deploy.mk - container image and AWS deployment (included by the Makefile).
#
#   make image                                            build the container image
#   make image ARCH=arm64                                 the same for linux/arm64 (Graviton)
#   make image-local                                      build it without an engine (below)
#   make deploy SUBNET_IDS=subnet-a,subnet-b SECURITY_GROUP_IDS=sg-1 [PARAMS="…"]
#   make undeploy                                         delete the stack
#
# Variables (command line or environment):
#   STACK               CloudFormation stack name                      default: imgbatch
#   REGION              AWS region; empty = AWS_REGION, else the CLI's configured region
#   IMAGE_NAME          local image name                               default: imgbatch
#   ARCH                amd64 (x86_64) or arm64 (Graviton)             default: amd64
#   IMAGE_TAG           image tag, also pushed to ECR                  default: git describe, else dev
#                       (+ "-arm64" with ARCH=arm64: one repository holds both)
#   IMAGE_PLATFORM      platform to build for                          default: linux/$(ARCH)
#   CONTAINER_CLI       docker or podman; empty = the first of them whose engine answers
#   SUBNET_IDS          comma-separated subnet ids                     required by deploy
#   SECURITY_GROUP_IDS  comma-separated security group ids             required by deploy
#   PARAMS              more template parameters, Key=Value separated by spaces, e.g.
#                       PARAMS="ArrayWidth=50 ComputeType=FARGATE NotificationEmail=ops@example.com"
#
# deploy: builds the image, creates the stack on first use (that creates the ECR
# repository), logs in to ECR with `aws ecr get-login-password`, pushes
# <repository>:IMAGE_TAG, then deploys the template with ImageTag=IMAGE_TAG and the
# template's Architecture (x86_64 or arm64) of ARCH, so jobs run where the image runs.
# An arm64 image built on an x86_64 machine runs the Dockerfile under emulation
# (docker buildx with binfmt/QEMU); the binary alone cross-builds faster: make build-arm64.
# Needs the AWS CLI with credentials for the target account.

STACK              ?= imgbatch
REGION             ?= $(AWS_REGION)
IMAGE_NAME         ?= imgbatch
ARCH               ?= amd64
IMGBATCH_ARCH      := $(if $(filter $(ARCH),arm64 aarch64),arm64,amd64)
IMGBATCH_CFN_ARCH  := $(if $(filter arm64,$(IMGBATCH_ARCH)),arm64,x86_64)
IMAGE_TAG          ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)$(if $(filter arm64,$(IMGBATCH_ARCH)),-arm64,)
IMAGE_PLATFORM     ?= linux/$(IMGBATCH_ARCH)
CONTAINER_CLI      ?=
SUBNET_IDS         ?=
SECURITY_GROUP_IDS ?=
PARAMS             ?=

IMGBATCH_TEMPLATE  := cloudformation/imgbatch.yaml
IMGBATCH_AWS        = aws $(if $(REGION),--region $(REGION),)
IMGBATCH_REVISION   = $(shell git rev-parse HEAD 2>/dev/null || echo unknown)

# Shell snippet: sets $cli to a container CLI whose engine answers, or fails clearly.
define IMGBATCH_FIND_CLI
cli="$(CONTAINER_CLI)"; \
if [ -z "$$cli" ]; then \
  for c in docker podman; do \
    if command -v $$c >/dev/null 2>&1 && $$c info >/dev/null 2>&1; then cli=$$c; break; fi; \
  done; \
fi; \
if [ -z "$$cli" ] || ! $$cli info >/dev/null 2>&1; then \
  echo "image: no working docker or podman here (a CLI without a running engine does not count)." >&2; \
  echo "       Install one (or set CONTAINER_CLI), or build the image in CI." >&2; \
  echo "       The binary alone: scripts/libvips-npm.sh && scripts/build.sh" >&2; \
  exit 1; \
fi
endef

# Shell snippet: `aws cloudformation deploy` of the template with all parameters.
define IMGBATCH_CFN_DEPLOY
$(IMGBATCH_AWS) cloudformation deploy \
  --template-file $(IMGBATCH_TEMPLATE) \
  --stack-name $(STACK) \
  --capabilities CAPABILITY_IAM \
  --no-fail-on-empty-changeset \
  --parameter-overrides SubnetIds=$(SUBNET_IDS) SecurityGroupIds=$(SECURITY_GROUP_IDS) ImageTag=$(IMAGE_TAG) $(PARAMS) Architecture=$(IMGBATCH_CFN_ARCH)
endef

.PHONY: image image-local deploy undeploy imgbatch-deploy-vars imgbatch-arch

# Checked by image (and so deploy) only: an unrelated ARCH in the environment must not
# stop make test.
imgbatch-arch:
	@case "$(ARCH)" in amd64|x86_64|arm64|aarch64) ;; \
	  *) echo "image: ARCH=$(ARCH): use amd64 (x86_64) or arm64 (Graviton)" >&2; exit 1 ;; esac

image: imgbatch-arch
	@$(IMGBATCH_FIND_CLI); \
	set -x; \
	$$cli build --platform $(IMAGE_PLATFORM) \
	  --build-arg VERSION=$(IMAGE_TAG) --build-arg REVISION=$(IMGBATCH_REVISION) \
	  -t $(IMAGE_NAME):$(IMAGE_TAG) .

# image-local: the same runtime image without docker or podman: a debootstrapped bookworm
# (cached in .cache/image/) with scripts/runtime-layer.sh applied, the script the Dockerfile's
# runtime stage runs. Writes .imgbatch/image/amd64/: rootfs/ (chroot into it), rootfs.tar,
# image.conf, sbom.spdx.json, size.txt. Needs root and debootstrap; make test runs the same
# build and its checks (image/).
image-local: libvips
	@command -v debootstrap >/dev/null || { echo "image-local: apt-get install debootstrap" >&2; exit 1; }
	scripts/image-local.sh --out .imgbatch/image/amd64

# Checked before the (long) image build.
imgbatch-deploy-vars:
	@test -n "$(SUBNET_IDS)" || { echo "deploy: set SUBNET_IDS=subnet-…[,subnet-…]" >&2; exit 1; }
	@test -n "$(SECURITY_GROUP_IDS)" || { echo "deploy: set SECURITY_GROUP_IDS=sg-…[,sg-…]" >&2; exit 1; }
	@command -v aws >/dev/null || { echo "deploy: the AWS CLI (aws) is required" >&2; exit 1; }

deploy: imgbatch-deploy-vars image
	@set -e; $(IMGBATCH_FIND_CLI); \
	repo_uri() { $(IMGBATCH_AWS) cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='RepositoryUri'].OutputValue" --output text 2>/dev/null || true; }; \
	repo=$$(repo_uri); \
	if [ -z "$$repo" ] || [ "$$repo" = None ]; then \
	  echo "deploy: creating stack $(STACK) (first deploy: creates the ECR repository)"; \
	  $(IMGBATCH_CFN_DEPLOY); \
	  repo=$$(repo_uri); \
	fi; \
	[ -n "$$repo" ] && [ "$$repo" != None ] || { echo "deploy: stack $(STACK) has no RepositoryUri output" >&2; exit 1; }; \
	echo "deploy: pushing $$repo:$(IMAGE_TAG)"; \
	$(IMGBATCH_AWS) ecr get-login-password | $$cli login --username AWS --password-stdin "$${repo%%/*}"; \
	$$cli tag $(IMAGE_NAME):$(IMAGE_TAG) "$$repo:$(IMAGE_TAG)"; \
	$$cli push "$$repo:$(IMAGE_TAG)"; \
	echo "deploy: updating stack $(STACK) to ImageTag=$(IMAGE_TAG)"; \
	$(IMGBATCH_CFN_DEPLOY); \
	$(IMGBATCH_AWS) cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs" --output table

undeploy:
	@echo "undeploy: deleting stack $(STACK); its buckets are kept (DeletionPolicy Retain), the ECR repository is emptied and deleted"
	$(IMGBATCH_AWS) cloudformation delete-stack --stack-name $(STACK)
	$(IMGBATCH_AWS) cloudformation wait stack-delete-complete --stack-name $(STACK)
