from ndxp_sim.cli import app

app(prog_name="ndxp-sim")
