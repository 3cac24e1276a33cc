"""Transfer experiments: a grid of sources × targets × ω × seeds, run locally or on Ray, compared with referents.

```python
from tshub.experiments import ExperimentGrid, run
from tshub.stats import comparison_table

grid = ExperimentGrid(sources=["LEN-DB/magnet", ("Coffee", "fcn")], targets=["GunPoint"], seeds=[0, 1, 2])
records = run(grid, engine="local", out_dir="runs/lendb")   # resumable: finished runs are skipped
print(comparison_table(records))
```
"""

from tshub.experiments.grid import ExperimentGrid, RunSpec
from tshub.experiments.records import OutDirInUseError, instance_comparisons, load_predictions, load_records
from tshub.experiments.runner import ExperimentError, execute_run, left_out_pairs, plan_runs, run

__all__ = [
    "ExperimentGrid",
    "RunSpec",
    "ExperimentError",
    "OutDirInUseError",
    "run",
    "plan_runs",
    "left_out_pairs",
    "execute_run",
    "load_records",
    "load_predictions",
    "instance_comparisons",
]
