/**
 * jobmagic's icon: a wand and its sparks, drawn with Lab's icon classes so it follows the theme.
 */
import { LabIcon } from '@jupyterlab/ui-components';

const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M2.3 19.9 14.7 7.5l1.8 1.8L4.1 21.7z"/>
    <path d="M17.5 1.5l1 2.4 2.4 1-2.4 1-1 2.4-1-2.4-2.4-1 2.4-1z"/>
    <path d="M20.5 11l.7 1.6 1.6.7-1.6.7-.7 1.6-.7-1.6-1.6-.7 1.6-.7z"/>
    <path d="M9.5 2.5l.7 1.6 1.6.7-1.6.7-.7 1.6-.7-1.6-1.6-.7 1.6-.7z"/>
  </g>
</svg>`;

export const jobmagicIcon = new LabIcon({ name: 'jobmagic:runs', svgstr });
