/**
 * Prints one plain closing line, `Summary: N passed, N failed, N skipped`,
 * as the very last line of a run (after Jest's own summary), for tools that
 * read only the closing line.
 */
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests, numRuntimeErrorTestSuites } = results;
    const failed = numFailedTests + numRuntimeErrorTestSuites;
    const line = `Summary: ${numPassedTests} passed, ${failed} failed, ${numPendingTests + numTodoTests} skipped\n`;
    // Jest prints its own summary after the reporters; stderr writes to a pipe or TTY are synchronous here.
    process.once('exit', () => process.stderr.write(line));
  }
}
