import {
  EMPTY_FILTER,
  IRun,
  countsSummary,
  formatDuration,
  formatMetric,
  formatObjective,
  formatRelative,
  groupBySweep,
  isLive,
  liveChange,
  logsText,
  noticeFor,
  notebookLink,
  parseTime,
  pollDelay,
  runDuration,
  runTitle,
  runsQuery,
  sparkline,
  statusKind,
  statusLabel,
  wantsNotice
} from '../model';

function run(id: number, overrides: Partial<IRun> = {}): IRun {
  return {
    id,
    name: `train-${id}`,
    status: 'RUNNING',
    state: 'acknowledged',
    application: 'train',
    application_id: 'app-1',
    host: 'http://127.0.0.1:8000',
    sweep: null,
    notebook: null,
    rerun_of: null,
    params: {},
    created_at: '2026-12-07T12:00:00Z',
    ended_at: null,
    exit_code: null,
    error: null,
    ...overrides
  };
}

describe('statuses', () => {
  it('maps statuses to the cards’ badge kinds', () => {
    expect(statusKind('CREATED')).toBe('queued');
    expect(statusKind('RUNNING')).toBe('running');
    expect(statusKind('TERMINATION_REQUESTED')).toBe('terminating');
    expect(statusKind('TERMINATED')).toBe('terminated');
    expect(statusKind('FAILED')).toBe('failed');
    expect(statusKind('PAUSED')).toBe('unknown');
    expect(statusKind(null)).toBe('unknown');
  });

  it('tells live statuses from ended ones', () => {
    expect(isLive('SCHEDULED')).toBe(true);
    expect(isLive('TERMINATING')).toBe(true);
    expect(isLive('FINISHED')).toBe(false);
    expect(isLive('UNKNOWN')).toBe(false);
  });

  it('labels statuses for people', () => {
    expect(statusLabel('TERMINATION_REQUESTED')).toBe('Termination requested');
    expect(statusLabel('FAILED')).toBe('Failed');
  });
});

describe('times', () => {
  it('formats durations as the cards do', () => {
    expect(formatDuration(12.34)).toBe('12.3 s');
    expect(formatDuration(59.96)).toBe('59.9 s');
    expect(formatDuration(65)).toBe('1m 05s');
    expect(formatDuration(3725)).toBe('1h 02m 05s');
    expect(formatDuration(93784)).toBe('1d 02h 03m');
    expect(formatDuration(-3)).toBe('0.0 s');
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(NaN)).toBe('—');
  });

  it('formats relative times, ahead and behind', () => {
    const now = Date.parse('2026-12-07T12:00:00Z');
    expect(formatRelative(now - 2000, now)).toBe('just now');
    expect(formatRelative(now - 42_000, now)).toBe('42 s ago');
    expect(formatRelative(now - 180_000, now)).toBe('3 min ago');
    expect(formatRelative(now - 7_300_000, now)).toBe('2 h ago');
    expect(formatRelative(now + 3 * 86_400_000, now)).toBe('in 3 d');
    expect(formatRelative(null, now)).toBe('');
  });

  it('reads server times as UTC, with or without a zone', () => {
    expect(parseTime('2026-12-07T12:00:00Z')).toBe(Date.UTC(2026, 11, 7, 12));
    expect(parseTime('2026-12-07T12:00:00')).toBe(Date.UTC(2026, 11, 7, 12));
    expect(parseTime('2026-12-07T13:00:00+01:00')).toBe(Date.UTC(2026, 11, 7, 12));
    expect(parseTime('soon')).toBeNull();
    expect(parseTime(null)).toBeNull();
  });

  it('measures a run to its end, or to now while it is live', () => {
    const now = Date.parse('2026-12-07T12:05:00Z');
    expect(runDuration(run(1), now)).toBe(300);
    expect(runDuration(run(2, { status: 'FINISHED', ended_at: '2026-12-07T12:01:05Z' }), now)).toBe(
      65
    );
    // Ended, but the end was never recorded: the server's duration, else none made up.
    expect(runDuration(run(3, { status: 'FAILED' }), now)).toBeNull();
    expect(runDuration(run(4, { status: 'FAILED', duration: 12 }), now)).toBe(12);
  });
});

describe('metrics and names', () => {
  it('formats metric values short', () => {
    expect(formatMetric(0.234567)).toBe('0.2346');
    expect(formatMetric(12)).toBe('12');
    expect(formatMetric(1234567.8)).toBe('1.235e+6');
    expect(formatMetric(0.00001234)).toBe('1.234e-5');
    expect(formatMetric(null)).toBe('—');
  });

  it('names the objective with its goal, or nothing', () => {
    expect(formatObjective({ metric: 'loss', goal: 'min', value: 0.25 })).toBe('loss 0.25 (min)');
    expect(formatObjective({ metric: 'loss', goal: 'min', value: null })).toBe('');
    expect(formatObjective(undefined)).toBe('');
  });

  it('falls back to the job and id when a run has no name yet', () => {
    expect(runTitle(run(7))).toBe('train-7');
    expect(runTitle(run(8, { name: null }))).toBe('train #8');
  });

  it('links notebooks inside the server root only', () => {
    expect(notebookLink('work/a.ipynb')).toBe('work/a.ipynb');
    expect(notebookLink({ path: 'a/b.ipynb', in_root: true })).toBe('a/b.ipynb');
    expect(notebookLink({ path: '/tmp/x.ipynb', in_root: false })).toBeNull();
    expect(notebookLink('../up.ipynb')).toBeNull();
    expect(notebookLink('/home/x/a.ipynb')).toBeNull();
    expect(notebookLink('C:\\x\\a.ipynb')).toBeNull();
    expect(notebookLink(null)).toBeNull();
  });
});

describe('sparkline', () => {
  it('scales a series between its extremes, gaps for missing points', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([1, null, 1])).toBe('▄ ▄');
    expect(sparkline([5, 4, 3, 2, 1], 3)).toBe('█▅▁');
    expect(sparkline([])).toBe('');
  });
});

describe('groupBySweep', () => {
  it('keeps newest-first order, a sweep where its newest run is', () => {
    const runs = [
      run(9),
      run(8, { sweep: 'lr' }),
      run(7),
      run(6, { sweep: 'lr' }),
      run(5, { sweep: 'bs' }),
      run(4),
      run(3)
    ];
    const groups = groupBySweep(runs);
    expect(groups.map(g => [g.sweep, g.runs.map(r => r.id)])).toEqual([
      [null, [9]],
      ['lr', [8, 6]],
      [null, [7]],
      ['bs', [5]],
      [null, [4, 3]]
    ]);
  });

  it('gives nothing for no runs', () => {
    expect(groupBySweep([])).toEqual([]);
  });
});

describe('liveChange', () => {
  it('finds runs seen live that have ended', () => {
    const before = new Map([
      [1, run(1)],
      [2, run(2)],
      [3, run(3)]
    ]);
    const change = liveChange(before, [
      run(1),
      run(2, { status: 'FAILED' }),
      run(4, { status: 'SCHEDULED' }),
      run(5, { status: 'FINISHED' })
    ]);
    expect(change.ended.map(r => [r.id, r.status])).toEqual([[2, 'FAILED']]);
    expect([...change.live.keys()]).toEqual([1, 4]);
    expect(change.vanished).toEqual([3]);
  });

  it('says nothing ended on the first poll', () => {
    const change = liveChange(new Map(), [run(1, { status: 'FINISHED' }), run(2)]);
    expect(change.ended).toEqual([]);
    expect([...change.live.keys()]).toEqual([2]);
  });

  it('does not call a run ended while it is still terminating', () => {
    const change = liveChange(new Map([[1, run(1)]]), [run(1, { status: 'TERMINATING' })]);
    expect(change.ended).toEqual([]);
    expect(change.live.has(1)).toBe(true);
  });
});

describe('notices', () => {
  it('follows the setting', () => {
    expect(wantsNotice('all', 'FINISHED')).toBe(true);
    expect(wantsNotice('failures', 'FINISHED')).toBe(false);
    expect(wantsNotice('failures', 'FAILED')).toBe(true);
    expect(wantsNotice('off', 'FAILED')).toBe(false);
  });

  it('names the run, its status, its duration and its objective', () => {
    const ended = run(3, {
      status: 'FINISHED',
      ended_at: '2026-12-07T12:01:05Z',
      objective: { metric: 'loss', goal: 'min', value: 0.125 }
    });
    expect(noticeFor(ended)).toEqual({
      message: 'train-3 finished after 1m 05s · loss 0.125 (min)',
      type: 'success'
    });
    expect(noticeFor(run(4, { status: 'FAILED', ended_at: '2026-12-07T12:00:30Z' })).type).toBe(
      'error'
    );
    expect(noticeFor(run(5, { status: 'TERMINATED' })).message).toBe('train-5 terminated');
  });
});

describe('pollDelay', () => {
  const base = { live: 0, visible: true, quiet: 0, failures: 0 };

  it('polls fast while a run is live, open or not', () => {
    expect(pollDelay({ ...base, live: 3, quiet: 9 })).toBe(2000);
    expect(pollDelay({ ...base, live: 1, visible: false })).toBe(2000);
  });

  it('backs off while the open panel sees nothing live', () => {
    const delays = [0, 1, 2, 3, 4, 5, 50].map(quiet => pollDelay({ ...base, quiet }));
    expect(delays).toEqual([2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('looks rarely when closed and idle, and backs off on failures', () => {
    expect(pollDelay({ ...base, visible: false })).toBe(60000);
    expect(pollDelay({ ...base, live: 2, failures: 1 })).toBe(4000);
    expect(pollDelay({ ...base, failures: 40 })).toBe(60000);
  });
});

describe('runsQuery', () => {
  it('sends only what the filter sets', () => {
    expect(runsQuery(EMPTY_FILTER, 0, 50)).toBe('limit=50');
    const query = new URLSearchParams(
      runsQuery({ status: 'LIVE', job: ' train ', sweep: 'lr', text: 'a&b' }, 100, 50)
    );
    expect(query.get('status')).toBe('CREATED,SCHEDULED,RUNNING,TERMINATION_REQUESTED,TERMINATING');
    expect(query.get('offset')).toBe('100');
    expect(query.get('app')).toBe('train');
    expect(query.get('sweep')).toBe('lr');
    expect(query.get('q')).toBe('a&b');
  });
});

describe('countsSummary', () => {
  it('puts live first, then endings, then the rest', () => {
    expect(countsSummary({ RUNNING: 2, SCHEDULED: 1, FINISHED: 10, FAILED: 2, PENDING: 1 })).toBe(
      '3 live · 10 finished · 2 failed · 1 other'
    );
    expect(countsSummary({})).toBe('');
  });
});

describe('logsText', () => {
  it('reads the shapes a logs answer may take', () => {
    expect(logsText('a\nb')).toBe('a\nb');
    expect(logsText({ lines: ['a', 'b'] })).toBe('a\nb');
    expect(logsText({ logs: [{ log: 'x' }, { line: 'y' }, { message: 'z' }] })).toBe('x\ny\nz');
    expect(logsText(null)).toBe('');
  });
});
