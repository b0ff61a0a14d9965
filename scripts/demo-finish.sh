#!/usr/bin/env bash
# The end of `make demo`, after `dvc repro`: every release of params.yaml verified against
# its manifest, pushed to the organiser's DVC remote, every challenge's verdicts, the
# metrics DVC tracks, where the outputs are, and the time per stage.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a releases < <(python -c '
import yaml
params = yaml.safe_load(open("params.yaml"))
print(" ".join("data/{challenge}/releases/{version}".format(**r) for r in params["releases"].values()))')
read -r -a challenges < <(python -c '
import yaml
params = yaml.safe_load(open("params.yaml"))
print(" ".join(dict.fromkeys(r["challenge"] for r in params["reproductions"].values())))')
for release in "${releases[@]}"; do
  echo "portal verify $release"
  portal verify "$release"
done
echo "dvc push -r local  # the organiser's writable remote; the public pulls over HTTP"
dvc push -r local
echo
for challenge in "${challenges[@]}"; do
  portal verdicts "$challenge"
done
dvc metrics show
cat <<'TEXT'

Demo outputs (every challenge of params.yaml; <c> is datpark or mlkidcar, both synthetic):
  challenge exports (synthetic):          raw/<c>/  (DaT-Park: DICOM exams and tables; ML-KIDCAR: tables and signals)
  de-identified, verified staging:        data/<c>/staging/  (deid_report.json says what was done)
  never released:                         data/<c>/private/  (quarantine, verifier findings)
  releases (verified, DVC-tracked, pushed to .dvc-storage/): data/<c>/releases/1.0.0/
  reproductions of the winners:           runs/<c>/1.0.0/<team>/  (record.json, figures, logs)
  MLflow runs:                            mlflow.db + mlartifacts/  (mlflow ui --backend-store-uri sqlite:///mlflow.db)
  the public site (built by the site stage): site/  (+ site/book/<c>/, the reproduction books)

Open the site:  portal site serve   then http://127.0.0.1:8000/   (or open site/index.html as a file)

Time per stage (portal commands; those DVC found up to date took no time):
TEXT
python -m portal.core.console "${PORTAL_TIMINGS:?}"
echo "  whole demo (with DVC's own work)  $(( $(date +%s) - $(cat .portal-cache/demo-start) )) s"
