"""What the simulator's calls measured, in figures: one call's report, a load run's, a plot.

``call_report`` turns a call's record into its figures and verdict; ``heard`` is
what the caller heard of it; ``load_report`` adds up a load run and draws its
progress; ``load_plot`` draws its round trips (matplotlib, imported only for it).
"""
