package testjobs;

/** A user class as a job result: the client reads it back with the same jar. */
public final class Point {
  public int x;
  public int y;

  public Point(int x, int y) {
    this.x = x;
    this.y = y;
  }

  @Override
  public String toString() {
    return "Point(" + x + "," + y + ")";
  }
}
