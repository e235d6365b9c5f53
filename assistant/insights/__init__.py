"""Proactive insights: detectors that notice what matters in a workspace before anyone asks.

- `registry`: detectors by name (`@detector("name")`), one small function each, in
  `detectors/` by area (sales, finance, marketing, operations);
- `sweep`: run them over one workspace and store the findings as `proactive_insights`
  (`sweep_workspace`), and the worker's handler for due sweeps (`sweep_job`);
- `surfacing`: what a chat turn tells the model (preferences live in the prompt templates;
  workspace profile, recalled facts and the insights for the user's page come from here).
"""
