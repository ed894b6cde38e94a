"""nbgrader's own configuration for this course, for instructors who use the nbgrader CLI.

solutions/<assignment>/ is the source directory and exercises/<assignment>/ the release
directory. `python -m autograder release` does the same with the same layout.
"""

from pathlib import Path

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = "sqlite:///" + str(Path(__file__).resolve().parent / "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".*"]
