#!/usr/bin/env bash
# Deploy the four AICC services to ECS Fargate behind the ALB aicc-alb (the spec's 배포 가이드).
# Idempotent: every resource is read first and changed only when it differs from what is wanted;
# a second run with the same inputs changes nothing. Run with --help for the options.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/aws/deploy_common_services.sh [options]

Creates or updates: ECR repositories aicc-<service> and aicc-migrate (scan on push, immutable
tags), their images (docker build -f deploy/docker/Dockerfile.<name>, when missing from ECR),
cluster aicc-cluster (Container Insights),
log groups /ecs/aicc-<service>, IAM roles, Secrets Manager secrets, the ALB aicc-alb with a
target group and listener per service, task definitions from deploy/aws/task-definition-*.json
(registered only when they differ from the latest revision), runs the migration task
(aicc db upgrade) to completion when a service is to get a new task definition, then creates or
updates the Fargate services aicc-<service> and waits for their deployments.

Options (environment variable in brackets):
  --region REGION             AWS region [AWS_REGION, AWS_DEFAULT_REGION; ap-northeast-2]
  --image-tag TAG             image tag to deploy [AICC_DEPLOY_IMAGE_TAG; the git commit]
  --skip-build                do not build or push; the images tagged TAG must be in ECR
  --subnets ID,ID             private subnets of the tasks (required) [AICC_DEPLOY_SUBNETS]
  --security-groups ID,ID     security groups of the tasks (required) [AICC_DEPLOY_SECURITY_GROUPS]
  --vpc-id ID                 VPC, checked against the subnets' [AICC_DEPLOY_VPC_ID]
  --alb-subnets ID,ID         public subnets of the ALB [AICC_DEPLOY_ALB_SUBNETS; --subnets]
  --alb-security-groups ID,ID security groups of the ALB [AICC_DEPLOY_ALB_SECURITY_GROUPS;
                              --security-groups]
  --alb-scheme SCHEME         internet-facing or internal [internet-facing]
  --certificate-arn ARN       ACM certificate: HTTPS on 443 and 8000-8003, 80 redirects to 443
                              [AICC_DEPLOY_CERTIFICATE_ARN]
  --internal-url URL          base URL through which services reach each other on ports
                              8000-8003 (AICC_AUTH_URL is URL:8003) [http://<ALB DNS name>;
                              required with --certificate-arn]
  --recordings-bucket NAME    S3_BUCKET [AICC_DEPLOY_RECORDINGS_BUCKET; aicc-recordings-<account>]
  --kms-key-alias ALIAS       KMS key wrapping data keys, used when it exists [alias/aicc-encryption]
  --connect-instance-id ID    Amazon Connect instance the monitoring service polls
  --desired-count N           tasks per service; without it new services get 2 and existing
                              ones keep theirs (autoscaling may own it)
  --log-retention-days N      retention of the log groups [30]
  --secret-prefix PREFIX      name prefix of the Secrets Manager secrets [aicc/]
  --no-wait                   do not wait for the services' deployments to complete
  -h, --help                  this help

Secrets: <prefix>database-url and <prefix>redis-url must exist, or are created from
AICC_DEPLOY_DATABASE_URL / AICC_DEPLOY_REDIS_URL when set; encryption-key,
bootstrap-admin-password and metrics-token are generated when missing; previous-encryption-keys
is passed on when it exists. Values never appear on a command line or in the output.

Environment: AWS_ENDPOINT_URL points every call at a stand-in (moto, LocalStack);
AICC_DEPLOY_POLL_SECONDS (5) between looks at the migration task and the deployments,
AICC_DEPLOY_MIGRATE_TIMEOUT / AICC_DEPLOY_WAIT_TIMEOUT (1800 s each), AICC_DEPLOY_IAM_SETTLE_SECONDS
(10: new roles reach ECS), AICC_DEPLOY_JOBS (6 AWS calls at once), AICC_DEPLOY_LOG_LEVEL (INFO).
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/deploy/aws
PLAN=$HERE/deploy_plan.py
SERVICES=(monitoring recording integration auth)
IMAGES=("${SERVICES[@]}" migrate)
CLUSTER=aicc-cluster
POLL=${AICC_DEPLOY_POLL_SECONDS:-5}
IAM_SETTLE=${AICC_DEPLOY_IAM_SETTLE_SECONDS:-10}

REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-ap-northeast-2}}
IMAGE_TAG=${AICC_DEPLOY_IMAGE_TAG:-}
SKIP_BUILD=0
SUBNETS=${AICC_DEPLOY_SUBNETS:-}
SECURITY_GROUPS=${AICC_DEPLOY_SECURITY_GROUPS:-}
VPC_ID=${AICC_DEPLOY_VPC_ID:-}
ALB_SUBNETS=${AICC_DEPLOY_ALB_SUBNETS:-}
ALB_SECURITY_GROUPS=${AICC_DEPLOY_ALB_SECURITY_GROUPS:-}
ALB_SCHEME=internet-facing
CERTIFICATE_ARN=${AICC_DEPLOY_CERTIFICATE_ARN:-}
INTERNAL_URL=""
BUCKET=${AICC_DEPLOY_RECORDINGS_BUCKET:-}
KMS_ALIAS=alias/aicc-encryption
CONNECT_INSTANCE_ID=""
DESIRED_COUNT=""
RETENTION=30
SECRET_PREFIX=aicc/
WAIT=1

while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --skip-build) SKIP_BUILD=1; shift; continue ;;
    --no-wait) WAIT=0; shift; continue ;;
  esac
  [[ $# -ge 2 && $1 == --* ]] || { usage >&2; echo "unknown or incomplete option: $1" >&2; exit 2; }
  case $1 in
    --region) REGION=$2 ;;
    --image-tag) IMAGE_TAG=$2 ;;
    --subnets) SUBNETS=$2 ;;
    --security-groups) SECURITY_GROUPS=$2 ;;
    --vpc-id) VPC_ID=$2 ;;
    --alb-subnets) ALB_SUBNETS=$2 ;;
    --alb-security-groups) ALB_SECURITY_GROUPS=$2 ;;
    --alb-scheme) ALB_SCHEME=$2 ;;
    --certificate-arn) CERTIFICATE_ARN=$2 ;;
    --internal-url) INTERNAL_URL=${2%/} ;;
    --recordings-bucket) BUCKET=$2 ;;
    --kms-key-alias) KMS_ALIAS=$2 ;;
    --connect-instance-id) CONNECT_INSTANCE_ID=$2 ;;
    --desired-count) DESIRED_COUNT=$2 ;;
    --log-retention-days) RETENTION=$2 ;;
    --secret-prefix) SECRET_PREFIX=$2 ;;
    *) usage >&2; echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift 2
done

exec 3>&1
say() { printf '%s\n' "$*" >&3; }
die() { printf 'deploy_common_services.sh: error: %s\n' "$*" >&2; exit 1; }
awsj() { aws --region "$REGION" --output json "$@"; }
awst() { aws --region "$REGION" --output text "$@"; }
plan() { PYTHONDONTWRITEBYTECODE=1 python3 "$PLAN" "$@"; }

[[ -n $SUBNETS ]] || die "--subnets is required (private subnets of the tasks)"
[[ -n $SECURITY_GROUPS ]] || die "--security-groups is required (security groups of the tasks)"
[[ $ALB_SCHEME == internet-facing || $ALB_SCHEME == internal ]] || die "--alb-scheme: internet-facing or internal"
[[ -z $DESIRED_COUNT || $DESIRED_COUNT =~ ^[0-9]+$ ]] || die "--desired-count must be a number"
[[ $RETENTION =~ ^[0-9]+$ ]] || die "--log-retention-days must be a number"
[[ -z $CERTIFICATE_ARN || -n $INTERNAL_URL ]] || die "--certificate-arn needs --internal-url (the name on the certificate)"
ALB_SUBNETS=${ALB_SUBNETS:-$SUBNETS}
ALB_SECURITY_GROUPS=${ALB_SECURITY_GROUPS:-$SECURITY_GROUPS}
command -v aws >/dev/null || die "the AWS CLI (aws) is not installed: pip install awscli"
command -v python3 >/dev/null || die "python3 is not installed"
IFS=, read -ra task_subnets <<<"$SUBNETS"
IFS=, read -ra alb_subnets <<<"$ALB_SUBNETS"
IFS=, read -ra alb_groups <<<"$ALB_SECURITY_GROUPS"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
touch "$WORK/changes"

# bg COMMAND...: run in the background, at most $JOBS at once; bg_wait fails if any failed.
JOBS=${AICC_DEPLOY_JOBS:-6}
PIDS=()
bg() {
  if ((${#PIDS[@]} >= JOBS)); then
    wait "${PIDS[0]}" || die "a step failed (see above)"
    PIDS=("${PIDS[@]:1}")
  fi
  "$@" &
  PIDS+=($!)
}
bg_wait() {
  local pid
  for pid in "${PIDS[@]}"; do
    wait "$pid" || die "a step failed (see above)"
  done
  PIDS=()
}
# read_to NAME COMMAND...: a read into $WORK/NAME; maybe NAME COMMAND...: empty when it fails.
read_to() { "${@:2}" >"$WORK/$1"; }
maybe() { "${@:2}" >"$WORK/$1" 2>/dev/null || : >"$WORK/$1"; }
field() { cat "$WORK/$1"; }

# change DESCRIPTION AWS-ARGS...: a write, counted and told.
change() {
  local what=$1
  shift
  printf '%s\n' "$what" >>"$WORK/changes"
  say "  $what"
  aws --region "$REGION" --output text "$@"
}

# apply_plan FILE: run the "<aws command>\t<request file>\t<name>" lines deploy_plan.py wrote;
# the lines of one name in order, different names side by side.
apply_plan() {
  local name
  while read -r name; do
    bg apply_lines "$1" "$name"
  done < <(cut -f3 "$1" | grep -v '^-$' | sort -u)
  bg_wait
}
apply_lines() {
  local command file name
  local -a words
  while IFS=$'\t' read -r command file name; do
    [[ $name == "$2" ]] || continue
    read -ra words <<<"$command"
    change "${words[1]} $name" "${words[@]}" --cli-input-json "file://$file" >/dev/null
  done <"$1"
}

say "==> Reading the account"
bg read_to subnets awst ec2 describe-subnets --subnet-ids "${task_subnets[@]}" "${alb_subnets[@]}" \
  --query 'Subnets[].[SubnetId, VpcId, CidrBlock, OwnerId, SubnetArn]'
bg read_to repos awst ecr describe-repositories \
  --query "repositories[?starts_with(repositoryName, 'aicc-')].[repositoryName, imageTagMutability, imageScanningConfiguration.scanOnPush]"
bg read_to cluster awst ecs describe-clusters --clusters "$CLUSTER" --include SETTINGS \
  --query "clusters[?status=='ACTIVE'] | [0].[status, settings[?name=='containerInsights'].value | [0]]"
bg read_to groups awst logs describe-log-groups --log-group-name-prefix /ecs/aicc- \
  --query 'logGroups[].[logGroupName, retentionInDays]'
bg read_to alias awst kms list-aliases --query "Aliases[?AliasName=='$KMS_ALIAS'].TargetKeyId | [0]"
bg read_to secrets awst secretsmanager list-secrets --filters "Key=name,Values=$SECRET_PREFIX" \
  --query 'SecretList[].[Name, ARN]'
bg read_to roles awsj iam get-account-authorization-details --filter Role \
  --query "RoleDetailList[?Path=='/aicc/']"
bg read_to lb awst elbv2 describe-load-balancers --query "LoadBalancers[?LoadBalancerName=='aicc-alb'] | [0].[LoadBalancerArn, DNSName, Scheme, join(',', sort(AvailabilityZones[].SubnetId)), join(',', sort(SecurityGroups))]"
bg read_to tgs awsj elbv2 describe-target-groups --query "TargetGroups[?starts_with(TargetGroupName, 'aicc-')]"
bg read_to families awst ecs list-task-definition-families --family-prefix aicc- --status ACTIVE --query families
bg maybe services awsj ecs describe-services --cluster "$CLUSTER" --include TAGS \
  --services "${SERVICES[@]/#/aicc-}" --query services
bg_wait

read -r _ _ _ ACCOUNT_ID subnet_arn <"$WORK/subnets"
PARTITION=$(cut -d: -f2 <<<"$subnet_arn")
BUCKET=${BUCKET:-aicc-recordings-$ACCOUNT_ID}
REGISTRY=$ACCOUNT_ID.dkr.ecr.$REGION.amazonaws.com
if [[ -z $IMAGE_TAG ]]; then
  IMAGE_TAG=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null) || die "not a git checkout: give --image-tag"
  if ((!SKIP_BUILD)) && [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then
    IMAGE_TAG+="-dirty-$(date -u +%Y%m%d%H%M%S)"
  fi
fi
say "  account $ACCOUNT_ID, region $REGION, image tag $IMAGE_TAG"
vpcs=$(cut -f2 "$WORK/subnets" | sort -u)
[[ -n $vpcs && $(wc -l <<<"$vpcs") -eq 1 ]] || die "the subnets are not all in one VPC: $(tr '\n' ' ' <<<"$vpcs")"
[[ -z $VPC_ID || $VPC_ID == "$vpcs" ]] || die "--vpc-id $VPC_ID, but the subnets are in $vpcs"
VPC_ID=$vpcs
TRUSTED_PROXIES=$(awk -v want=",$ALB_SUBNETS," 'index(want, "," $1 ",") {print $3}' "$WORK/subnets" | sort -u | paste -sd, -)
read -r LB_ARN ALB_DNS lb_scheme lb_subnets lb_groups <"$WORK/lb" || true
[[ $LB_ARN != None ]] || LB_ARN=""

bucket_ok() { aws --region "$REGION" s3api head-bucket --bucket "$BUCKET" >/dev/null && echo ok; }
bg maybe bucket bucket_ok
[[ -z $LB_ARN ]] || bg read_to listeners awsj elbv2 describe-listeners --load-balancer-arn "$LB_ARN" --query Listeners
for family in "${IMAGES[@]}"; do
  if grep -qw "aicc-$family" "$WORK/families"; then
    bg read_to "td-$family" awsj ecs describe-task-definition --task-definition "aicc-$family" --include TAGS
  fi
done
bg_wait
[[ -n $LB_ARN ]] || echo '[]' >"$WORK/listeners"
[[ $(field bucket) == ok ]] ||
  die "the recordings bucket $BUCKET does not exist or is not readable (--recordings-bucket)"
shared_port=80
[[ -z $CERTIFICATE_ARN ]] || shared_port=443
shared_listener() { plan column "$WORK/listeners" Port ListenerArn | awk -v p="$shared_port" '$1 == p {print $2}'; }
SHARED_LISTENER=$(shared_listener)
echo '[]' >"$WORK/rules"
[[ -z $SHARED_LISTENER ]] ||
  bg read_to rules awsj elbv2 describe-rules --listener-arn "$SHARED_LISTENER" --query Rules
# An image the latest task definition already runs was there when it was registered (tags are
# immutable): only other images are looked up.
while IFS=$'\t' read -r family image; do
  if [[ $image == "$REGISTRY/aicc-$family:$IMAGE_TAG" ]]; then
    echo 1 >"$WORK/image-$family"
  else
    bg maybe "image-$family" awst ecr batch-get-image --repository-name "aicc-$family" \
      --image-ids "imageTag=$IMAGE_TAG" --query 'length(images)'
  fi
done < <(plan current-images "$WORK")
bg_wait

say "==> Images"
BUILD=1
if ((SKIP_BUILD)); then
  say "  build: skipped (--skip-build); deploying the images tagged $IMAGE_TAG already in ECR"
  BUILD=0
elif ! command -v docker >/dev/null 2>&1; then
  say "  build: skipped: docker is not installed; deploying the images tagged $IMAGE_TAG already in ECR"
  BUILD=0
elif ! docker info >/dev/null 2>&1; then
  say "  build: skipped: no Docker engine answers (docker info failed); deploying the images tagged $IMAGE_TAG already in ECR"
  BUILD=0
fi
missing=()
for s in "${IMAGES[@]}"; do
  [[ $(field "image-$s") == 1 ]] || missing+=("$s")
done
((BUILD || ${#missing[@]} == 0)) ||
  die "no image tagged $IMAGE_TAG in ECR for: ${missing[*]} (build and push them, or give the --image-tag of a pushed release)"
for required in AICC_DEPLOY_DATABASE_URL:database-url AICC_DEPLOY_REDIS_URL:redis-url; do
  variable=${required%%:*} name=$SECRET_PREFIX${required#*:}
  awk -v n="$name" '$1 == n {found = 1} END {exit !found}' "$WORK/secrets" || [[ -n ${!variable:-} ]] ||
    die "secret $name is missing: create it in Secrets Manager, or set $variable for this run"
done
for s in "${IMAGES[@]}"; do
  line=$(awk -v n="aicc-$s" '$1 == n' "$WORK/repos")
  if [[ -z $line ]]; then
    bg change "create repository aicc-$s" ecr create-repository --repository-name "aicc-$s" \
      --image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true \
      --encryption-configuration encryptionType=AES256 \
      --tags Key=Project,Value=aicc Key=ManagedBy,Value=deploy_common_services.sh >/dev/null
    continue
  fi
  read -r _ mutability scan <<<"$line"
  [[ $mutability == IMMUTABLE ]] ||
    bg change "make the tags of aicc-$s immutable" ecr put-image-tag-mutability \
      --repository-name "aicc-$s" --image-tag-mutability IMMUTABLE >/dev/null
  [[ $scan == True ]] ||
    bg change "scan the images of aicc-$s on push" ecr put-image-scanning-configuration \
      --repository-name "aicc-$s" --image-scanning-configuration scanOnPush=true >/dev/null
done
bg_wait
if ((${#missing[@]})); then
  REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
  aws --region "$REGION" ecr get-login-password |
    docker login --username AWS --password-stdin "$REGISTRY" >/dev/null
  for s in "${missing[@]}"; do
    printf 'build and push %s\n' "aicc-$s:$IMAGE_TAG" >>"$WORK/changes"
    say "  build and push aicc-$s:$IMAGE_TAG"
    docker build --platform linux/amd64 --file "$ROOT/deploy/docker/Dockerfile.$s" \
      --build-arg "AICC_VERSION=$IMAGE_TAG" --build-arg "AICC_REVISION=$REVISION" \
      --tag "$REGISTRY/aicc-$s:$IMAGE_TAG" "$ROOT"
    docker push "$REGISTRY/aicc-$s:$IMAGE_TAG"
  done
fi
say "  $REGISTRY/aicc-<service>:$IMAGE_TAG (tags are immutable)"

say "==> Cluster $CLUSTER and log groups"
read -r status insights <"$WORK/cluster" || true
if [[ $status != ACTIVE ]]; then
  bg change "create cluster $CLUSTER" ecs create-cluster --cluster-name "$CLUSTER" \
    --settings name=containerInsights,value=enabled \
    --tags key=Project,value=aicc key=ManagedBy,value=deploy_common_services.sh >/dev/null
elif [[ $insights != enabled ]]; then
  bg change "turn Container Insights on" ecs update-cluster-settings --cluster "$CLUSTER" \
    --settings name=containerInsights,value=enabled >/dev/null
fi
log_group() {
  [[ -n $2 ]] || change "create log group $1" logs create-log-group --log-group-name "$1" \
    --tags Project=aicc,ManagedBy=deploy_common_services.sh >/dev/null
  [[ $2 == "$RETENTION" ]] || change "keep $1 for $RETENTION days" logs put-retention-policy \
    --log-group-name "$1" --retention-in-days "$RETENTION" >/dev/null
}
for s in "${SERVICES[@]}" migrate; do
  bg log_group "/ecs/aicc-$s" "$(awk -v n="/ecs/aicc-$s" '$1 == n {print $2}' "$WORK/groups")"
done
bg_wait

say "==> Secrets ($SECRET_PREFIX*)"
KMS_KEY_ID=$(field alias)
if [[ $KMS_KEY_ID == None || -z $KMS_KEY_ID ]]; then
  KMS_KEY_ARN=""
  say "  $KMS_ALIAS not found: data keys stay wrapped by ENCRYPTION_KEY (create the key and alias, then run again)"
else
  KMS_KEY_ARN=arn:$PARTITION:kms:$REGION:$ACCOUNT_ID:key/$KMS_KEY_ID
fi
# secret NAME SOURCE: the ARN of PREFIX+NAME into $WORK/secret-NAME, created from SOURCE when
# missing: env:VARIABLE (the deployer's environment; nothing when unset), key (32 random bytes,
# base64), token (a random URL-safe string), or optional (never created). Values go through a
# pipe, never a command line.
secret() {
  local name=$SECRET_PREFIX$1 source=$2 arn generate
  arn=$(awk -v n="$name" '$1 == n {print $2}' "$WORK/secrets")
  if [[ -n $arn || $source == optional ]]; then
    printf '%s' "$arn" >"$WORK/secret-$1"
    return
  fi
  case $source in
    key) generate='import base64, secrets, sys; sys.stdout.write(base64.b64encode(secrets.token_bytes(32)).decode())' ;;
    token) generate='import secrets, sys; sys.stdout.write(secrets.token_urlsafe(32))' ;;
    env:*)
      local variable=${source#env:}
      [[ -n ${!variable:-} ]] || { : >"$WORK/secret-$1"; return; }
      generate="import os, sys; sys.stdout.write(os.environ['$variable'])" ;;
  esac
  python3 -c "$generate" | change "create secret $name" secretsmanager create-secret --name "$name" \
    --secret-string file:///dev/stdin --query ARN \
    --tags Key=Project,Value=aicc Key=ManagedBy,Value=deploy_common_services.sh >"$WORK/secret-$1"
}
SECRETS=(DATABASE_URL:database-url:env:AICC_DEPLOY_DATABASE_URL REDIS_URL:redis-url:env:AICC_DEPLOY_REDIS_URL
  ENCRYPTION_KEY:encryption-key:key PREVIOUS_ENCRYPTION_KEYS:previous-encryption-keys:optional
  BOOTSTRAP_ADMIN_PASSWORD:bootstrap-admin-password:token METRICS_TOKEN:metrics-token:token)
for entry in "${SECRETS[@]}"; do
  IFS=: read -r _ name source <<<"$entry"
  bg secret "$name" "$source"
done
bg_wait
DEPLOY_SECRET_ARNS=""
for entry in "${SECRETS[@]}"; do
  IFS=: read -r variable name source <<<"$entry"
  arn=$(field "secret-$name")
  [[ -n $arn || $source == optional ]] ||
    die "secret $SECRET_PREFIX$name ($variable) is missing: create it in Secrets Manager, or set ${source#env:} for this run"
  export "DEPLOY_SECRET_$variable=$arn"
  [[ -z $arn ]] || DEPLOY_SECRET_ARNS+=${DEPLOY_SECRET_ARNS:+,}$arn
done

say "==> IAM roles"
export DEPLOY_SECRET_ARNS DEPLOY_PARTITION=$PARTITION DEPLOY_REGION=$REGION DEPLOY_ACCOUNT_ID=$ACCOUNT_ID \
  DEPLOY_S3_BUCKET=$BUCKET DEPLOY_KMS_KEY_ARN=$KMS_KEY_ARN DEPLOY_CONNECT_INSTANCE_ID=$CONNECT_INSTANCE_ID
mkdir "$WORK/iam"
plan plan-iam "$WORK/roles" "$WORK/iam" >"$WORK/iam.plan"
apply_plan "$WORK/iam.plan"
ROLES_CREATED_AT=""
grep -q '^iam create-role' "$WORK/iam.plan" && ROLES_CREATED_AT=$SECONDS

say "==> Load balancer aicc-alb"
sorted() { tr , '\n' <<<"$1" | sort | paste -sd, -; }
if [[ -z $LB_ARN ]]; then
  lb=$(change "create load balancer aicc-alb ($ALB_SCHEME)" elbv2 create-load-balancer --name aicc-alb \
    --type application --scheme "$ALB_SCHEME" --subnets "${alb_subnets[@]}" \
    --security-groups "${alb_groups[@]}" --query 'LoadBalancers[0].[LoadBalancerArn, DNSName]' \
    --tags Key=Project,Value=aicc Key=ManagedBy,Value=deploy_common_services.sh)
  read -r LB_ARN ALB_DNS <<<"$lb"
  change "drop invalid header fields on aicc-alb" elbv2 modify-load-balancer-attributes \
    --load-balancer-arn "$LB_ARN" \
    --attributes Key=routing.http.drop_invalid_header_fields.enabled,Value=true >/dev/null
else
  [[ $lb_scheme == "$ALB_SCHEME" ]] || die "aicc-alb is $lb_scheme, not $ALB_SCHEME: a scheme cannot change"
  [[ $lb_subnets == "$(sorted "$ALB_SUBNETS")" ]] ||
    bg change "move aicc-alb to subnets $ALB_SUBNETS" elbv2 set-subnets --load-balancer-arn "$LB_ARN" \
      --subnets "${alb_subnets[@]}" >/dev/null
  [[ $lb_groups == "$(sorted "$ALB_SECURITY_GROUPS")" ]] ||
    bg change "set the security groups of aicc-alb" elbv2 set-security-groups \
      --load-balancer-arn "$LB_ARN" --security-groups "${alb_groups[@]}" >/dev/null
  bg_wait
fi
INTERNAL_URL=${INTERNAL_URL:-http://$ALB_DNS}
export DEPLOY_VPC_ID=$VPC_ID DEPLOY_LB_ARN=$LB_ARN DEPLOY_CERTIFICATE_ARN=$CERTIFICATE_ARN

mkdir "$WORK/tg" "$WORK/listener" "$WORK/rule"
plan plan-target-groups "$WORK/tgs" "$WORK/tg" >"$WORK/tg.plan"
apply_plan "$WORK/tg.plan"
if grep -q create "$WORK/tg.plan"; then
  awsj elbv2 describe-target-groups --query "TargetGroups[?starts_with(TargetGroupName, 'aicc-')]" >"$WORK/tgs"
fi
while IFS=$'\t' read -r name arn; do
  [[ $name == aicc-* ]] || continue
  s=${name#aicc-}
  export "DEPLOY_TG_${s^^}=$arn"
  if grep -q "^elbv2 create-target-group.*	$s\$" "$WORK/tg.plan"; then
    bg change "drain $name targets for 30s" elbv2 modify-target-group-attributes --target-group-arn "$arn" \
      --attributes Key=deregistration_delay.timeout_seconds,Value=30 >/dev/null
  fi
done < <(plan column "$WORK/tgs" TargetGroupName TargetGroupArn)
bg_wait
plan plan-listeners "$WORK/listeners" "$WORK/listener" >"$WORK/listener.plan"
apply_plan "$WORK/listener.plan"
if grep -q create "$WORK/listener.plan"; then
  awsj elbv2 describe-listeners --load-balancer-arn "$LB_ARN" --query Listeners >"$WORK/listeners"
fi
export DEPLOY_SHARED_LISTENER_ARN
DEPLOY_SHARED_LISTENER_ARN=$(shared_listener)
plan plan-rules "$WORK/rules" "$WORK/rule" >"$WORK/rule.plan"
apply_plan "$WORK/rule.plan"

say "==> Task definitions"
export DEPLOY_REGISTRY=$REGISTRY DEPLOY_IMAGE_TAG=$IMAGE_TAG DEPLOY_LOG_LEVEL=${AICC_DEPLOY_LOG_LEVEL:-INFO} \
  DEPLOY_ROLE_PREFIX=arn:$PARTITION:iam::$ACCOUNT_ID:role/aicc/ DEPLOY_AUTH_URL=$INTERNAL_URL:8003 \
  DEPLOY_EXECUTION_ROLE_ARN=arn:$PARTITION:iam::$ACCOUNT_ID:role/aicc/aicc-ecs-execution \
  DEPLOY_MONITORING_TARGETS=recording=$INTERNAL_URL:8001,integration=$INTERNAL_URL:8002,auth=$INTERNAL_URL:8003 \
  DEPLOY_TRUSTED_PROXIES=$TRUSTED_PROXIES DEPLOY_KMS_KEY_ID=$KMS_KEY_ARN
register() {
  change "register task definition aicc-$1" ecs register-task-definition \
    --cli-input-json "file://$WORK/td-$1.json" --query taskDefinition.taskDefinitionArn >"$WORK/arn-$1"
}
while IFS=$'\t' read -r family arn; do
  if [[ -n $arn ]]; then printf '%s' "$arn" >"$WORK/arn-$family"; else bg register "$family"; fi
done < <(plan task-definitions "$WORK")
bg_wait
for family in "${SERVICES[@]}" migrate; do
  arn=$(field "arn-$family")
  export "DEPLOY_TD_${family^^}=$arn"
  say "  aicc-$family: ${arn##*/}"
done

say "==> Services"
export DEPLOY_CLUSTER=$CLUSTER DEPLOY_SUBNETS=$SUBNETS DEPLOY_SECURITY_GROUPS=$SECURITY_GROUPS \
  DEPLOY_DESIRED_COUNT=$DESIRED_COUNT
mkdir "$WORK/service"
plan plan-services "$WORK/services" "$WORK/service" >"$WORK/service.plan"
if grep -q '^migrate' "$WORK/service.plan"; then
  say "  a service gets a new task definition: migrating the database first"
  if [[ -n $ROLES_CREATED_AT ]] && ((IAM_SETTLE > SECONDS - ROLES_CREATED_AT)); then
    sleep $((IAM_SETTLE - (SECONDS - ROLES_CREATED_AT)))  # new roles take a moment to reach ECS
  fi
  network="awsvpcConfiguration={subnets=[$SUBNETS],securityGroups=[$SECURITY_GROUPS],assignPublicIp=DISABLED}"
  task=$(change "run the migration task (aicc db upgrade)" ecs run-task --cluster "$CLUSTER" \
    --task-definition "$DEPLOY_TD_MIGRATE" --launch-type FARGATE --count 1 \
    --started-by deploy_common_services --network-configuration "$network" \
    --query 'tasks[0].taskArn')
  [[ -n $task && $task != None ]] || die "the migration task did not start"
  deadline=$((SECONDS + ${AICC_DEPLOY_MIGRATE_TIMEOUT:-1800}))
  while :; do
    sleep "$POLL"
    read -r status code reason < <(awst ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" \
      --query "tasks[0].[lastStatus, containers[?name=='migrate'] | [0].exitCode, stoppedReason]")
    [[ $status == STOPPED ]] && break
    ((SECONDS < deadline)) || die "the migration task $task is still $status; services not updated"
  done
  [[ $code == 0 ]] || die "the migration task $task failed (exit code $code: $reason); see the log group /ecs/aicc-migrate; services not updated"
  say "  migration task ${task##*/} finished with exit code 0"
fi
apply_plan "$WORK/service.plan"

changed=$(awk -F'\t' '$1 ~ /^ecs (create|update)-service$/ {print "aicc-" $3}' "$WORK/service.plan")
if ((WAIT)) && [[ -n $changed ]]; then
  say "  waiting for the deployments to complete (the circuit breaker rolls back a failing one)"
  deadline=$((SECONDS + ${AICC_DEPLOY_WAIT_TIMEOUT:-1800}))
  while [[ -n $changed ]]; do
    # shellcheck disable=SC2086  # one word per service name
    states=$(awst ecs describe-services --cluster "$CLUSTER" --services $changed \
      --query "services[].[serviceName, deployments[?status=='PRIMARY'] | [0].rolloutState]")
    failed=$(awk '$2 == "FAILED" {print $1}' <<<"$states")
    [[ -z $failed ]] || die "deployment failed and was rolled back: $failed (see the service events)"
    changed=$(awk '$2 != "COMPLETED" {print $1}' <<<"$states")
    [[ -n $changed ]] || break
    ((SECONDS < deadline)) || die "deployments still in progress: $changed"
    sleep "$POLL"
  done
fi

say "==> Done"
count=$(wc -l <"$WORK/changes")
if ((count == 0)); then
  say "  nothing to change: everything is already as wanted"
else
  say "  $count change(s) made"
fi
say "  aicc-alb: $ALB_DNS (API paths on port $shared_port, each service on its own port 8000-8003)"
