import { CakeError } from '../../model/errors.js';
import type { CliContext } from '../context.js';

/** `cake add`: being built (see the issue tracker). */
export async function addCommand(_ctx: CliContext, _args: string[], _opts: Record<string, unknown>): Promise<number> {
  throw new CakeError('internal', 'cake add is not implemented yet', { hint: 'see `cake help` for the commands that work today' });
}
