#!/usr/bin/env bash
# Create the Secrets the manifests reference (they never hold a secret themselves).
#
#   k8s/make-secrets.sh dev  [--print]   # random passwords for the in-cluster servers, random
#                                        # secrets, a new JWT key, a superadmin (password on stderr)
#   k8s/make-secrets.sh prod [--print]   # the servers' URLs and the superadmin from your
#                                        # environment: DATABASE_URL REDIS_URL AMQP_URL SMTP_URL
#                                        # TICKETING_SUPERADMIN_EMAIL TICKETING_SUPERADMIN_PASSWORD;
#                                        # secrets and the JWT key from it too, or new random ones
#
# Without --print it applies them with kubectl (to the overlay's namespace); with --print it
# writes the YAML to stdout instead. Applying again replaces the values: new random secrets
# invalidate every issued JWT and order link, so run it once, then rotate deliberately.
set -euo pipefail

overlay=${1:-}
mode=${2:-apply}
case "$overlay" in
  dev) namespace=ticketing-dev ;;
  prod) namespace=ticketing ;;
  *) echo "usage: $0 dev|prod [--print]" >&2; exit 2 ;;
esac
case "$mode" in apply|--print) ;; *) echo "usage: $0 dev|prod [--print]" >&2; exit 2 ;; esac

random() { openssl rand -hex 32; }
jwt_key() { openssl genpkey -algorithm ed25519; }
need() {
  if [ -z "${!1:-}" ]; then echo "$0: set $1 for the prod Secrets" >&2; exit 2; fi
}
secret() {  # secret NAME --from-literal=KEY=VALUE …
  local name=$1; shift
  kubectl create secret generic "$name" --namespace "$namespace" "$@" \
    --dry-run=client --output yaml
}

if [ "$overlay" = dev ]; then
  postgres_password=$(random) redis_password=$(random) rabbitmq_password=$(random)
  superadmin_password=$(random)
  DATABASE_URL="postgresql://ticketing:${postgres_password}@postgres:5432/ticketing"
  REDIS_URL="redis://:${redis_password}@redis:6379/0"
  AMQP_URL="amqp://ticketing:${rabbitmq_password}@rabbitmq:5672/"
  SMTP_URL="smtp://mailpit:1025"
  TICKETING_SUPERADMIN_EMAIL="admin@example.com"
  TICKETING_SUPERADMIN_PASSWORD=$superadmin_password
  echo "superadmin: ${TICKETING_SUPERADMIN_EMAIL} / ${superadmin_password}" >&2
else
  for name in DATABASE_URL REDIS_URL AMQP_URL SMTP_URL \
      TICKETING_SUPERADMIN_EMAIL TICKETING_SUPERADMIN_PASSWORD; do
    need "$name"
  done
fi

documents=$(
  if [ "$overlay" = dev ]; then
    secret ticketing-infra \
      --from-literal=POSTGRES_PASSWORD="$postgres_password" \
      --from-literal=REDIS_PASSWORD="$redis_password" \
      --from-literal=RABBITMQ_PASSWORD="$rabbitmq_password"
    echo "---"
  fi
  secret ticketing-secrets \
    --from-literal=DATABASE_URL="$DATABASE_URL" \
    --from-literal=REDIS_URL="$REDIS_URL" \
    --from-literal=AMQP_URL="$AMQP_URL" \
    --from-literal=SMTP_URL="$SMTP_URL" \
    --from-literal=TICKETING_INTERNAL_SECRET="${TICKETING_INTERNAL_SECRET:-$(random)}" \
    --from-literal=TICKETING_ORDER_TOKEN_SECRET="${TICKETING_ORDER_TOKEN_SECRET:-$(random)}" \
    --from-literal=TICKETING_SANDBOX_WEBHOOK_SECRET="${TICKETING_SANDBOX_WEBHOOK_SECRET:-$(random)}" \
    --from-literal=TICKETING_JWT_PRIVATE_KEY="${TICKETING_JWT_PRIVATE_KEY:-$(jwt_key)}" \
    --from-literal=TICKETING_SUPERADMIN_EMAIL="$TICKETING_SUPERADMIN_EMAIL" \
    --from-literal=TICKETING_SUPERADMIN_PASSWORD="$TICKETING_SUPERADMIN_PASSWORD"
)

if [ "$mode" = --print ]; then
  printf '%s\n' "$documents"
else
  printf '%s\n' "$documents" | kubectl apply --filename -
fi
