#!/bin/sh
# Second phase of a Payer Auth deployment (docs/deploy.md, step 6): run by azd after `azd deploy`
# (azure.yaml, hooks.postdeploy), or by hand on the `az` path with the same variables exported.
# It waits until the deployed code answers, checks that the discovery document's jwks_uri
# resolves (it names the public host, which needs DNS when a custom domain is set), then deploys
# infra/phase2.bicep: the function key as a secret named value, the backend that sends it as
# x-functions-key, and every API Management policy, validate-jwt last.
#
# Needs: AZURE_RESOURCE_GROUP, AZURE_FUNCTION_APP_NAME, PAYERAUTH_DEPLOY_APIM_NAME,
# PAYERAUTH_DEPLOY_FUNCTION_HOST, PAYERAUTH_DEPLOY_PUBLIC_BASE_URL (outputs of infra/main.bicep,
# which azd puts in the environment).
set -eu

: "${AZURE_RESOURCE_GROUP:?set it (output of infra/main.bicep)}"
: "${AZURE_FUNCTION_APP_NAME:?set it (output of infra/main.bicep)}"
: "${PAYERAUTH_DEPLOY_APIM_NAME:?set it (output of infra/main.bicep)}"
: "${PAYERAUTH_DEPLOY_FUNCTION_HOST:?set it (output of infra/main.bicep)}"
: "${PAYERAUTH_DEPLOY_PUBLIC_BASE_URL:?set it (output of infra/main.bicep)}"
ATTEMPTS="${PAYERAUTH_DEPLOY_WAIT_ATTEMPTS:-30}"
HERE="$(cd "$(dirname "$0")" && pwd)"

# api/health is the one anonymous function: any answer (200 ok or 503 degraded) means the code runs.
wait_for() {
    url="$1"; what="$2"; n=0
    until status="$(curl -s -o /dev/null -w '%{http_code}' "$url")" && [ "$status" != "000" ] && [ "$status" != "404" ]; do
        n=$((n + 1))
        if [ "$n" -ge "$ATTEMPTS" ]; then
            echo "postdeploy: $what did not answer at $url (last status $status): is the code deployed, and did" >&2
            echo "it start? A settings error stops it at start-up: see the function app's log stream." >&2
            exit 1
        fi
        sleep 10
    done
}
wait_for "https://$PAYERAUTH_DEPLOY_FUNCTION_HOST/api/health" "the function app"

case "$PAYERAUTH_DEPLOY_PUBLIC_BASE_URL" in
    *.azure-api.net) ;;
    *)
        host="${PAYERAUTH_DEPLOY_PUBLIC_BASE_URL#https://}"
        if ! getent hosts "$host" >/dev/null 2>&1 && ! nslookup "$host" >/dev/null 2>&1; then
            echo "postdeploy: $host does not resolve yet; the discovery document's jwks_uri names it and" >&2
            echo "validate-jwt would fail to load keys. Create the CNAME (docs/deploy.md step 4), then rerun" >&2
            echo "this hook: azd hooks run postdeploy" >&2
            exit 1
        fi
        ;;
esac

# azd signs in on its own; this step uses the Azure CLI's login, on azd's subscription when known.
set --
if [ -n "${AZURE_SUBSCRIPTION_ID:-}" ]; then set -- --subscription "$AZURE_SUBSCRIPTION_ID"; fi
az deployment group create "$@" \
    --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "payer-auth-phase2" \
    --template-file "$HERE/../phase2.bicep" \
    --parameters apimName="$PAYERAUTH_DEPLOY_APIM_NAME" functionAppName="$AZURE_FUNCTION_APP_NAME" \
    --output none
echo "postdeploy: API Management policies applied; check with docs/deploy.md step 8."
